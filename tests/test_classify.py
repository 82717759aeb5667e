"""Classification through the whole loop, as the other tasks go: a YOLO11n-cls trained one epoch by stock
Ultralytics on generated class folders, pruned 0.5 in two steps with one fine-tuning epoch each, judged by top-1
(top-5 beside it), ONNX equal to PyTorch, and a final.pt that stock Ultralytics alone reloads (also with
``ULTRALYTICS_SAFE_LOAD=1``), predicts, validates, exports and trains without losing its pruned widths; the other
methods one step on other families; the class-folder checks, each one ``error:`` line before any work; and the demo's
class-folder generator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from yolo_prune import prune
from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.checks import adopt_data_names, check_model, data_view
from yolo_prune.cli import main
from yolo_prune.demo.classify import generate_class_folders
from yolo_prune.demo.classify import main as generator_main
from yolo_prune.errors import UserError
from yolo_prune.evaluation import layer_widths
from yolo_prune.export import ONNX_TOLERANCE, compare_with_torch, export_onnx
from yolo_prune.structure import ModelAdapter
from yolo_prune.structure.model_yaml import stock_yaml

TINY = dict(imgsz=32, batch=4, workers=0, device="cpu", verbose=False)
TRAIN = "epochs=1, imgsz=32, batch=4, workers=0, device='cpu', plots=False, exist_ok=True, verbose=False"


@pytest.fixture(scope="module")
def trained_cls(cls_data_dir, tmp_path_factory) -> Path:
    """A yolo11n-cls trained one epoch on the class folders by stock Ultralytics: its best.pt."""
    from ultralytics import YOLO

    project = tmp_path_factory.mktemp("cls-train")
    YOLO("yolo11n-cls.yaml").train(data=str(cls_data_dir), project=str(project), name="base", plots=False,
                                   epochs=1, imgsz=32, batch=4, workers=0, device="cpu", verbose=False)  # fmt: skip
    return project / "base" / "weights" / "best.pt"


@pytest.fixture(scope="module")
def data_before(trained_cls, cls_data_dir, digests) -> dict[str, str]:
    """The class folders' digests before the run (after the stock training of its base)."""
    return digests(cls_data_dir)


@pytest.fixture(scope="module")
def run(data_before, trained_cls, cls_data_dir, tmp_path_factory):
    return prune(model=str(trained_cls), data=str(cls_data_dir), iterative_steps=2, epochs=1, target_prune_rate=0.5,
                 project=str(tmp_path_factory.mktemp("runs")), **TINY)  # fmt: skip


def test_two_steps_cut_half_the_body_keep_the_head_and_log_top1(run, trained_cls, cls_data_dir, data_before,
                                                                  digests):  # fmt: skip
    assert digests(cls_data_dir) == data_before  # Ultralytics read the run's view of links
    rows = json.loads((run.run_dir / "steps.json").read_text())
    pruned = [r for r in rows if r["phase"] == "prune"]
    assert [r["step"] for r in pruned] == [1, 2] and all(r["status"] == "kept" for r in pruned)
    assert 0.4 < pruned[1]["rate"] < 0.56 and pruned[0]["macs"] > pruned[1]["macs"]
    assert all(0 <= r[k] <= 1 for r in rows for k in ("top1", "top1_pruned", "top5", "top5_pruned"))
    assert rows[-1]["map_drop"] == pytest.approx(rows[0]["top1"] - rows[-1]["top1"])
    settings = yaml.safe_load((run.run_dir / "settings.yaml").read_text())
    assert settings["metrics"] == {"top1": "top-1", "top5": "top-5"}
    final, base = load_detector(run.final_pt), load_detector(trained_cls)
    assert final.task == "classify" and ModelAdapter.of(final, "final").task.yardstick == "top1"
    head = final.model[-1]
    assert head.conv.conv.out_channels == 1280 and head.linear.out_features == 3  # what no yaml states, and nc
    assert head.conv.conv.in_channels < base.model[-1].conv.conv.in_channels  # the body before it is cut
    assert stock_yaml(final)[1] is None
    report = (run.run_dir / "report.md").read_text()
    assert "| top-1 (PyTorch) |" in report and "| top-5 (yolo val) |" in report and "top-1 decides" in report
    assert "centre-crops every image" in report and "rectangular" not in report  # no detection wording


def test_onnx_matches_pytorch_and_stock_ultralytics_alone_uses_the_final_model(run, cls_data_dir, run_python,
                                                                                tmp_path):  # fmt: skip
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["onnx_output_diff"] < ONNX_TOLERANCE
    assert abs(summary["final"]["onnx_top1"] - summary["final"]["top1"]) <= summary["onnx_tolerance"]
    pt = save_checkpoint(tmp_path / "copy.pt", load_detector(run.final_pt), {"imgsz": 32})
    assert compare_with_torch(pt, export_onnx(pt, 32), 32) < ONNX_TOLERANCE
    image = next((cls_data_dir / "val").rglob("*.jpg"))
    out = run_python(
        "import os; os.environ['ULTRALYTICS_SAFE_LOAD'] = '1'\nimport sys; sys.modules['yolo_prune'] = None\n"
        "import json\nfrom ultralytics import YOLO\n"
        f"m = YOLO({str(run.final_pt)!r})\n"
        "n = sum(p.numel() for p in m.model.parameters())\n"
        f"r = m.predict({str(image)!r}, imgsz=32, verbose=False)\n"
        f"v = m.val(data={str(cls_data_dir)!r}, imgsz=32, batch=4, workers=0, device='cpu', plots=False, "
        f"verbose=False, project={str(tmp_path)!r})\n"
        f"onnx = YOLO({str(run.final_pt)!r}).export(format='onnx', imgsz=32)\n"
        f"ts = YOLO({str(run.final_pt)!r}).export(format='torchscript', imgsz=32)\n"
        f"t = YOLO({str(run.final_pt)!r})\n"
        f"t.train(data={str(cls_data_dir)!r}, {TRAIN}, project={str(tmp_path)!r}, name='api')\n"
        "print(json.dumps([m.task, n, r[0].probs.data.shape[0], float(v.top1), onnx, ts,\n"
        "                  sum(p.numel() for p in t.model.parameters())]))\n"
    )
    task, n, classes, top1, onnx, ts, trained = json.loads(out.strip().splitlines()[-1])
    params = sum(p.numel() for p in load_detector(run.final_pt).parameters())
    assert task == "classify" and n == params == trained and classes == 3
    assert top1 == pytest.approx(summary["final"]["yolo_val_top1"], abs=1e-4)  # the report's "yolo val" row
    assert Path(onnx).stat().st_size > 0 and Path(ts).stat().st_size > 0
    trained_weights = list((tmp_path / "api" / "weights").glob("*.pt"))
    assert trained_weights and all(layer_widths(load_detector(w)) == layer_widths(load_detector(run.final_pt))
                                   for w in trained_weights)  # fmt: skip


def test_an_interrupted_run_resumes_on_its_class_folder(run, tmp_path):
    """The run as a kill after step 1 leaves it: the resumed run checks the folder against its record, cuts step 2
    and finishes as the whole run did."""
    exp = tmp_path / "exp"
    shutil.copytree(run.run_dir, exp)
    rows = json.loads((exp / "steps.json").read_text())
    (exp / "steps.json").write_text(json.dumps(rows[:2]))
    (exp / "steps.csv").write_text("".join((exp / "steps.csv").read_text().splitlines(keepends=True)[:3]))
    for name in ("summary.json", "weights/final.pt", "weights/final.onnx", "weights/step_02.pt"):
        (exp / name).unlink()
    result = prune(resume=str(exp))
    resumed = json.loads((exp / "steps.json").read_text())
    assert [r["step"] for r in resumed] == [0, 1, 2] and resumed[2]["status"] == "kept"
    assert resumed[2]["params"] == rows[2]["params"] and result.final_pt.is_file()


@pytest.mark.parametrize("source, method", [
    ("yolov8n-cls.yaml", dict(method="slim", sr=0.05, sparse_epochs=1)),
    # a classifier at 32 pixels runs in about 0.3 ms: more rounds, so that timing noise does not pass for a speed-up
    ("yolo26n-cls.yaml", dict(target_speedup=1.2, latency_runs=15, latency_warmup=2, latency_threads=1)),
    ("yolo11n-cls.yaml", dict(method="finetune")),
    ("yolov8n-cls.yaml", dict(method="search", target_speedup=1.2, supernet_epochs=1, search_population=2,
                              search_generations=1, latency_runs=15, latency_warmup=2, latency_threads=1)),
])  # fmt: skip
def test_the_other_methods_run_one_step(source, method, cls_data_dir, tmp_path):
    result = prune(model=source, data=str(cls_data_dir), iterative_steps=1, epochs=1, project=str(tmp_path),
                   **method, **TINY)  # fmt: skip
    rows = json.loads((result.run_dir / "steps.json").read_text())
    assert rows[-1]["status"] == "kept" and (rows[-1]["rate"] > 0) == (method.get("method") != "finetune")
    assert json.loads((result.run_dir / "summary.json").read_text())["onnx_output_diff"] < ONNX_TOLERANCE
    final = load_detector(result.final_pt)
    assert final.task == "classify" and stock_yaml(final)[1] is None


def _refused(model: str, data: Path | str, tmp_path: Path, capfd, *extra: str) -> str:
    project = tmp_path / "runs"
    code = main(["--model", model, "--data", str(data), "--imgsz", "32", "--workers", "0", "--device", "cpu",
                 "--project", str(project), "--quiet", *extra])  # fmt: skip
    out, err = capfd.readouterr()
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in out + err and not project.exists()
    return err


def test_distillation_is_refused_for_a_classifier(cls_data_dir, tmp_path, capfd):
    err = _refused("yolov8n-cls.yaml", cls_data_dir, tmp_path, capfd, "--distill")
    assert "--distill is for detection models only for now; this is a classification model" in err


def _flatten(split: Path) -> None:
    """Each class's images moved out of its folder into the split's own folder, the class folders removed."""
    for folder in [c for c in split.iterdir() if c.is_dir()]:
        for image in list(folder.iterdir()):
            image.rename(split / f"{folder.name}-{image.name}")
        folder.rmdir()


def _edited(source: Path, out: Path, edit) -> Path:
    shutil.copytree(source, out)
    edit(out)
    return out


EDITS = {  # a class-folder data set as users break it -> what the one line says
    "no train": (lambda d: shutil.rmtree(d / "train"), "has no train/ split"),
    "no val": (lambda d: shutil.rmtree(d / "val"), "has no val/ or validation/ or valid/ or test/ split"),
    "no class folders": (lambda d: [shutil.rmtree(c) for c in (d / "val").iterdir()], "val has no class folders"),
    "images but no class folders": (lambda d: _flatten(d / "train"), "train has no class folders"),
    "a class without images": (lambda d: [f.unlink() for f in (d / "val" / "square").iterdir()],
                               "class folders of"),  # fmt: skip
    "other classes in val": (lambda d: (d / "val" / "square").rename(d / "val" / "box"),
                             "other class folders (train/ only: square; val/ only: box)"),  # fmt: skip
}


@pytest.mark.parametrize("case", list(EDITS))
def test_a_broken_class_folder_is_refused_in_one_line(case, cls_data_dir, tmp_path, capfd):
    edit, expected = EDITS[case]
    data = _edited(cls_data_dir, tmp_path / "data", edit)
    assert expected in _refused("yolov8n-cls.yaml", data, tmp_path, capfd)


def test_a_missing_folder_is_refused_and_nothing_is_fetched(tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = _refused("yolov8n-cls.yaml", "imagenette160", tmp_path, capfd)
    assert "data folder not found: imagenette160" in err and not list(tmp_path.rglob("*.zip"))
    (tmp_path / "shapes.zip").write_bytes(b"PK")  # an archive Ultralytics would unpack into its own folder
    assert "data shapes.zip is a file; classification models read a folder" in _refused("yolov8n-cls.yaml",
                                                                                         "shapes.zip", tmp_path, capfd)


def test_data_of_the_other_form_is_refused_in_one_line(cls_data_dir, tiny_data_yaml, tmp_path, capfd):
    err = _refused("yolov8n-cls.yaml", tiny_data_yaml, tmp_path, capfd)
    assert f"data {tiny_data_yaml} is a data set .yaml; classification models read a folder with train/ and val/" in err
    err = _refused("yolov8n.yaml", cls_data_dir, tmp_path, capfd)
    assert f"data {cls_data_dir} is a folder; detection models read a data set .yaml" in err


def test_a_test_split_serves_as_val_and_the_run_reads_a_view_of_links(cls_data_dir, tmp_path):
    data = _edited(cls_data_dir, tmp_path / "data", lambda d: (d / "val").rename(d / "test"))
    _, adapter, info = check_model("yolov8n-cls.yaml", str(data))
    assert info["val"] == (data / "test").resolve() and info["nc"] == 3
    view = data_view(info, tmp_path / "view", adapter.task.folder_data)
    seen = adapter.task.check_dataset(view)
    assert seen["names"] == info["names"] and len(list((view / "val").rglob("*.jpg"))) == 9
    assert all(p.is_symlink() and p.resolve().parent.parent == data / "test" for p in (view / "val").rglob("*.jpg"))


def test_a_model_of_another_class_count_is_refused_and_other_names_noted(cls_data_dir, tmp_path):
    model = load_detector("yolov8n-cls.yaml", nc=4)
    pt = save_checkpoint(tmp_path / "four.pt", model, {"imgsz": 32})
    with pytest.raises(UserError, match=rf"four.pt predicts 4 classes but {cls_data_dir} has 3; prune a model"):
        check_model(str(pt), str(cls_data_dir))
    model = load_detector("yolov8n-cls.yaml", nc=3)
    model.names = {0: "circle", 1: "box", 2: "triangle"}
    pt = save_checkpoint(tmp_path / "three.pt", model, {"imgsz": 32})
    model, _, info = check_model(str(pt), str(cls_data_dir))
    assert info["names"] == {0: "circle", 1: "square", 2: "triangle"}
    assert "1: 'box' -> 'square'" in adopt_data_names(model, info, pt)[0]
    assert model.names == info["names"]


def test_the_generator_writes_class_folders_deterministically(tmp_path, capfd):
    a = generate_class_folders(tmp_path / "a", n_images=12, imgsz=32, n_classes=2, seed=3, val_ratio=0.5)
    b = generate_class_folders(tmp_path / "b", n_images=12, imgsz=32, n_classes=2, seed=3, val_ratio=0.5)
    files = sorted(str(p.relative_to(a)) for p in a.rglob("*.jpg"))
    assert files == sorted(str(p.relative_to(b)) for p in b.rglob("*.jpg"))
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert {f.rsplit("/", 1)[0] for f in files} == {"train/circle", "train/square", "val/circle", "val/square"}
    assert sum(f.startswith("val/") for f in files) == 6
    assert generator_main(["--out", str(a), "--images", "30"]) == 2  # a folder with files is never written over
    assert "already exists and is not empty" in capfd.readouterr().err
