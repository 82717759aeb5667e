"""Segmentation, pose and oriented boxes through the whole loop, as detection goes: a model trained one epoch by
stock Ultralytics, pruned 0.5 in two steps with one fine-tuning epoch each (DepGraph), the task's own metric logged,
ONNX equal to PyTorch on every output, and a final.pt that stock Ultralytics reloads, predicts, validates, exports and
trains in a fresh process without yolo-prune; one family each (YOLOv8-seg, YOLO11-pose, YOLO26-obb); network
slimming and the speed target run one step on other families. YOLO26-seg's training-only semantic branch still
trains once pruned."""

import copy
import json
import re
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from yolo_prune import prune
from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.checks import check_model
from yolo_prune.errors import UserError
from yolo_prune.evaluation import layer_widths
from yolo_prune.export import ONNX_TOLERANCE, compare_with_torch, export_onnx, onnx_tolerance
from yolo_prune.methods import make_method
from yolo_prune.settings import resolve_settings
from yolo_prune.structure import ModelAdapter
from yolo_prune.structure.model_yaml import stock_yaml
from trained import trained_like

TINY = dict(imgsz=64, batch=4, workers=0, device="cpu", verbose=False)
CASES = {"segment": "yolov8n-seg.yaml", "pose": "yolo11n-pose.yaml", "obb": "yolo26n-obb.yaml"}
# The deciding metric: our name (steps.csv's column) and Ultralytics' key for it; segment and pose log box mAP too.
METRIC = {"segment": ("mask_map50_95", "metrics/mAP50-95(M)"), "pose": ("pose_map50_95", "metrics/mAP50-95(P)"),
          "obb": ("map50_95", "metrics/mAP50-95(B)")}  # fmt: skip


def stock_trained(source: str, data: Path, project: Path) -> Path:
    """``source`` (a bundled yaml) trained one epoch on ``data`` by stock Ultralytics, as a user's best.pt comes to be:
    on a private copy of the data set (Ultralytics writes its label caches beside the labels)."""
    from ultralytics import YOLO

    copy_dir = project / "data"
    shutil.copytree(data.parent, copy_dir)
    (copy_dir / "data.yaml").write_text(data.read_text().replace(str(data.parent), str(copy_dir)))
    YOLO(source).train(data=str(copy_dir / "data.yaml"), project=str(project), name="base", epochs=1, imgsz=64,
                       batch=4, workers=0, device="cpu", plots=False, verbose=False)  # fmt: skip
    return project / "base" / "weights" / "best.pt"


@pytest.fixture(scope="module", params=list(CASES))
def run(request, task_data_yaml, tmp_path_factory):
    task = request.param
    base = stock_trained(CASES[task], task_data_yaml(task), tmp_path_factory.mktemp(f"{task}-train"))
    result = prune(model=str(base), data=str(task_data_yaml(task)), iterative_steps=2, epochs=1,
                   target_prune_rate=0.5, project=str(tmp_path_factory.mktemp("runs")), **TINY)  # fmt: skip
    return task, result


def test_two_steps_cut_half_and_log_the_tasks_metric(run):
    task, result = run
    rows = json.loads((result.run_dir / "steps.json").read_text())
    pruned = [r for r in rows if r["phase"] == "prune"]
    assert [r["step"] for r in pruned] == [1, 2] and all(r["status"] == "kept" for r in pruned)
    assert 0.4 < pruned[1]["rate"] < 0.56 and pruned[0]["macs"] > pruned[1]["macs"]
    final = load_detector(result.final_pt)
    metrics = ModelAdapter.of(final, "final").task.metrics
    assert final.task == task and next(iter(metrics)) == METRIC[task][0]  # the first decides
    assert metrics[METRIC[task][0]][0] == METRIC[task][1]
    logged = [METRIC[task][0], *(["box_map50_95"] if task != "obb" else [])]
    assert all(isinstance(r[k], float) and isinstance(r[f"{k}_pruned"], float) for r in rows for k in logged)
    assert rows[-1]["map_drop"] == pytest.approx(rows[0][METRIC[task][0]] - rows[-1][METRIC[task][0]])
    settings = yaml.safe_load((result.run_dir / "settings.yaml").read_text())
    assert list(settings["metrics"]) == list(metrics)
    assert stock_yaml(final)[1] is None


def test_onnx_matches_pytorch_and_final_reloads_without_yolo_prune(run, run_python, task_data_yaml,
                                                                   tmp_path):  # fmt: skip
    """In a fresh process without yolo-prune and with ``ULTRALYTICS_SAFE_LOAD=1``: final.pt loads, predicts,
    validates with its task's metric (the report's yolo val row), exports to ONNX and TorchScript through
    Ultralytics' exporter, and ``YOLO(final.pt).train()`` keeps every pruned width."""
    task, result = run
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["onnx_output_diff"] < ONNX_TOLERANCE
    final = tmp_path / "final.pt"  # a copy: exports and training write beside it
    shutil.copyfile(result.final_pt, final)
    data = str(task_data_yaml(task))
    out = run_python(
        "import os; os.environ['ULTRALYTICS_SAFE_LOAD'] = '1'\n"
        "import sys; sys.modules['yolo_prune'] = None\nimport json, torch\nfrom ultralytics import YOLO\n"
        f"m = YOLO({str(final)!r})\n"
        "n = sum(p.numel() for p in m.model.parameters())\n"
        "m.predict(torch.rand(1, 3, 64, 64), imgsz=64, verbose=False)\n"
        f"metrics = m.val(data={data!r}, imgsz=64, batch={TINY['batch']}, workers=0, device='cpu', plots=False, "
        f"verbose=False, project={str(tmp_path)!r})\n"
        "exports = [YOLO(m.ckpt_path).export(format=f, imgsz=64) for f in ('onnx', 'torchscript')]\n"
        f"t = YOLO({str(final)!r})\n"
        f"t.train(data={data!r}, epochs=1, imgsz=64, batch=4, workers=0, device='cpu', plots=False, val=False, "
        f"project={str(tmp_path)!r}, name='train')\n"
        "print(json.dumps([m.task, n, float(metrics.results_dict[" + repr(METRIC[task][1]) + "]), exports,\n"
        "                  sum(p.numel() for p in t.model.parameters())]))\n"
    )
    name, n, metric, exports, trained = json.loads(out.strip().splitlines()[-1])
    assert name == task and n == trained == sum(p.numel() for p in load_detector(result.final_pt).parameters())
    # the report's yolo val row, up to what separates two validations of these one-epoch models (their mAP is near
    # 0; stock val fuses Conv+BN first): 8e-4 once for yolo26n-obb
    assert metric == pytest.approx(summary["final"][f"yolo_val_{METRIC[task][0]}"], abs=2e-3)
    assert all(Path(e).stat().st_size > 0 for e in exports)
    assert layer_widths(load_detector(tmp_path / "train" / "weights" / "last.pt")) == layer_widths(load_detector(final))


@pytest.mark.parametrize("task, source, method", [
    ("segment", "yolo26n-seg.yaml", dict(method="slim", sr=0.05, sparse_epochs=1)),  # Proto26's semantic branch trains
    ("pose", "yolo11n-pose.yaml", dict(target_speedup=1.2, latency_runs=3, latency_warmup=1, latency_threads=1)),
    ("obb", "yolov8n-obb.yaml", dict(method="slim", sr=0.05, sparse_epochs=1)),
    # the width search, from a checkpoint with trained-like BatchNorms (see the docstring)
    ("obb", "trained-like yolo11n-obb.yaml", dict(method="search", target_speedup=1.2, supernet_epochs=1,
                                                  search_population=2, search_generations=1, latency_runs=3,
                                                  latency_warmup=1, latency_threads=1)),
])  # fmt: skip
def test_the_other_methods_run_one_step_on_each_task(task, source, method, task_data_yaml, tmp_path):
    """The width search starts from a model with trained-like BatchNorms (its head's groups rooted at depthwise
    convs). One epoch of supernet training on a few images leaves activations in the thousands on the ONNX check's
    random input, where float32 rounding alone moves the outputs (ONNX Runtime and PyTorch differed by 1e-4 here,
    1.2e-2 on CI once): the check allows for what it moves them (``onnx_tolerance``)."""
    if source.startswith("trained-like "):
        model = trained_like(load_detector(source.removeprefix("trained-like "), nc=3))
        source = str(save_checkpoint(tmp_path / "trained_like.pt", model, {"imgsz": 64}))
    result = prune(model=source, data=str(task_data_yaml(task)), iterative_steps=1, epochs=1, project=str(tmp_path),
                   **method, **TINY)  # fmt: skip
    rows = json.loads((result.run_dir / "steps.json").read_text())
    assert rows[-1]["status"] == "kept" and rows[-1]["rate"] > 0
    summary = json.loads((result.run_dir / "summary.json").read_text())
    tolerance = summary["onnx_output_tolerance"]
    assert summary["onnx_output_diff"] < tolerance == onnx_tolerance(summary["onnx_output_rounding"])
    final = load_detector(result.final_pt)
    assert final.task == task and stock_yaml(final)[1] is None


def test_a_pose_model_takes_the_data_sets_keypoints_and_refuses_others(task_data_yaml, tmp_path):
    five = tmp_path / "five.yaml"  # the same data set, stating 5 keypoints
    five.write_text(task_data_yaml("pose").read_text().replace("kpt_shape: [17, 3]", "kpt_shape: [5, 3]"))
    model, _, _ = check_model("yolo11n-pose.yaml", str(five))
    assert list(model.model[-1].kpt_shape) == [5, 3]  # built for the data set, as Ultralytics' PoseTrainer builds it
    pt = save_checkpoint(tmp_path / "five.pt", model, {"imgsz": 64})
    with pytest.raises(UserError, match=r"five.pt predicts keypoints of kpt_shape \[5, 3\] but .* has \[17, 3\]"):
        check_model(str(pt), str(task_data_yaml("pose")))


def test_distillation_is_refused_for_tasks_other_than_detection(task_data_yaml, tmp_path):
    with pytest.raises(UserError, match="^--distill is for detection models only for now; this is a segmentation model"):
        prune(model="yolov8n-seg.yaml", data=str(task_data_yaml("segment")), distill=True,
              project=str(tmp_path), **TINY)  # fmt: skip
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("source, widths", [
    ("yolo26n-seg.yaml", {}),
    ("yolo26n-pose.yaml", {"yaml_widths": False, "round_to": 1}),  # else Ultralytics' derived width keeps cv4 whole
    ("yolo26n-obb.yaml", {}),
])  # fmt: skip
def test_a_pruned_yolo26_task_model_trains_in_train_mode_and_exports_as_it_computes(source, widths, tmp_path):
    """YOLO26's task heads have layers that run in training only, which an eval trace does not see (Proto26's
    semantic branch, Pose26's sigma convs): after a 0.5 cut they must still take the channels they read, forward and
    backward; eval outputs (detections and, for segmentation, prototypes) equal ONNX."""
    model = trained_like(load_detector(source, nc=3)).eval()
    base = copy.deepcopy(model)
    settings = resolve_settings(overrides={"imgsz": 64, "target_prune_rate": 0.5, **widths})
    make_method(settings, ModelAdapter.of(model, source)).prune(model, 1, 1, layer_widths(model), 64)
    assert sum(layer_widths(model).values()) < 0.8 * sum(layer_widths(base).values())
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    out = model(torch.rand(2, 3, 64, 64))
    if source == "yolo26n-seg.yaml":
        assert out["one2many"]["proto"][1].shape[1] == 3  # the semantic branch ran: one map per class
    if source == "yolo26n-pose.yaml":
        assert "kpts_sigma" in out["one2many"]  # the sigma convs ran
    loss = sum(t.float().sum() for t in torch.utils._pytree.tree_leaves(out) if isinstance(t, torch.Tensor))
    loss.backward()
    head = model.model[-1]
    trained_only = head.proto.semseg if source == "yolo26n-seg.yaml" else getattr(head, "cv4_sigma", head.cv4)
    assert all(p.grad is not None for p in trained_only.parameters())
    pt = save_checkpoint(tmp_path / "cut.pt", model.eval(), {"imgsz": 64})
    assert compare_with_torch(pt, export_onnx(pt, 64), 64) < ONNX_TOLERANCE


def test_resume_reads_the_tasks_step_log_and_refuses_one_an_older_version_named_otherwise(run, tmp_path):
    """A finished run of the task resumes as finished (its step log read with its own metrics); a run whose log an
    older yolo-prune wrote with detection's metric names (its segmentation and pose runs did) is refused in one line
    instead of being continued under other columns."""
    task, result = run
    again = prune(resume=str(result.run_dir))
    assert again.steps == json.loads((result.run_dir / "steps.json").read_text())
    if task == "obb":  # judged by box mAP under detection's names: nothing was named otherwise
        return
    older = tmp_path / "older"
    shutil.copytree(result.run_dir, older)
    (older / "summary.json").unlink()
    settings = yaml.safe_load((older / "settings.yaml").read_text())
    del settings["metrics"]
    (older / "settings.yaml").write_text(yaml.safe_dump(settings))
    yardstick = METRIC[task][0]
    rows = [{("map50_95" if k == yardstick else k): v for k, v in r.items()} for r in again.steps]
    rows = [{**r, "map50_95_pruned": r[f"{yardstick}_pruned"], "map50": 0.0, "map50_pruned": 0.0} for r in rows]
    (older / "steps.json").write_text(json.dumps(rows))
    refusal = rf"^{re.escape(str(older))} logged mAP50-95, mAP50, but this yolo-prune judges a "
    with pytest.raises(UserError, match=refusal):
        prune(resume=str(older))
