"""Early stop with rollback on a model that really detects: the step that crosses --max-map-drop is logged as
rejected, the run stops there, and the final model is the last step that stayed within the limit. A run whose every
step is rejected says so; its base mAP is also given as ``yolo val`` reports it; what Ultralytics drops is shown."""

import io
import json
import shutil
from contextlib import redirect_stderr, redirect_stdout

import pytest

from yolo_prune import prune
from yolo_prune.checkpoint import load_detector
from yolo_prune.evaluation import layer_widths

SETTINGS = dict(imgsz=128, batch=8, workers=0, device="cpu", iterative_steps=4, target_prune_rate=0.3, epochs=0,
                latency_runs=2, latency_warmup=0, verbose=False, compare_runtimes=False)  # fmt: skip


def test_crossing_step_is_rejected_and_the_last_good_step_is_final(trained_model, shapes128_data_yaml, tmp_path):
    data = str(shapes128_data_yaml)
    free = prune(model=str(trained_model), data=data, max_map_drop=1.0, project=str(tmp_path), name="free", **SETTINGS)
    drops = [r["map_drop"] for r in free.steps]
    assert free.steps[0]["map50_95"] > 0.05  # the fixture detects, so pruning has something to lose
    # the first step after which pruning costs more: a limit between the two drops keeps k and rejects k + 1
    k = next(i for i in range(1, len(drops) - 1) if drops[i + 1] > drops[i])
    limit = (drops[k] + drops[k + 1]) / 2

    stopped = prune(model=str(trained_model), data=data, max_map_drop=limit, project=str(tmp_path), name="stop",
                    **SETTINGS)  # fmt: skip
    rows = stopped.steps
    assert [r["step"] for r in rows] == list(range(k + 2))
    assert [r["status"] for r in rows] == ["kept"] * (k + 1) + ["rejected"]
    assert rows[-1]["checkpoint"] == "" and rows[-1]["map_drop"] > limit
    assert stopped.summary["final_step"] == k
    final = load_detector(stopped.final_pt)
    assert layer_widths(final) == layer_widths(load_detector(stopped.run_dir / rows[k]["checkpoint"]))
    assert stopped.summary["final"]["map50_95"] == rows[k]["map50_95"]
    assert stopped.summary["final"]["macs"] == rows[k]["macs"] > rows[k + 1]["macs"]

    resumed = prune(resume=str(stopped.run_dir))  # a stopped run resumes to the same end, adding no step
    assert json.loads((stopped.run_dir / "steps.json").read_text()) == rows
    assert layer_widths(load_detector(resumed.final_pt)) == layer_widths(final)


@pytest.fixture(scope="module")
def all_rejected(trained_model, shapes128_data_yaml, tmp_path_factory):
    """A run whose only step loses mAP (max_map_drop 0), on a copy of the data where one train label names class 7
    of 3; returns the result, the data yaml, and what the run printed (quiet, as with --quiet)."""
    root = tmp_path_factory.mktemp("all-rejected")
    shutil.copytree(shapes128_data_yaml.parent, root / "data", ignore=shutil.ignore_patterns("*.cache"))
    data = root / "data" / shapes128_data_yaml.name
    data.write_text(data.read_text().replace(str(shapes128_data_yaml.parent), str(root / "data")))
    bad_label = sorted((root / "data" / "labels" / "train").glob("*.txt"))[0]
    bad_label.write_text("7 0.5 0.5 0.2 0.2\n")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        result = prune(model=str(trained_model), data=str(data), project=str(root / "runs"),
                       **{**SETTINGS, "iterative_steps": 1, "target_prune_rate": 0.5, "max_map_drop": 0.0})  # fmt: skip
    image = root / "data" / "images" / "train" / f"{bad_label.stem}.jpg"
    return result, data, out.getvalue(), err.getvalue(), image


def test_a_run_without_a_kept_step_says_final_pt_is_the_base_model(all_rejected):
    result, _, out, _, _ = all_rejected
    rows = result.steps
    assert [(r["step"], r["status"]) for r in rows] == [(0, "kept"), (1, "rejected")]
    line = (f"no pruning step was kept (step 1 lost {rows[1]['map_drop']:.3f} mAP50-95, more than max_map_drop 0.0): "
            f"final.pt is the base model, unpruned: {result.final_pt}\n")  # fmt: skip
    assert line in out and "pruned model:" not in out
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["no_step_kept"] is True and summary["final_step"] == 0
    assert summary["speedup"] is None and summary["final"]["latency"] is None  # no model timed against itself
    assert "Speed-up: n/a (not measured)" in out
    assert layer_widths(load_detector(result.final_pt)) == layer_widths(load_detector(result.run_dir / "weights/base.pt"))
    assert "> **Warning:** No pruning step was kept (step 1 lost" in (result.run_dir / "report.md").read_text()


def test_base_map_is_also_the_number_yolo_val_reports(all_rejected, trained_model, run_python, tmp_path):
    """``yolo val`` / ``YOLO.val()`` validate with rectangular batches, the run with square letterboxed inputs (the
    ONNX model's): the summary gives both, and its 'yolo val' number is exactly what Ultralytics prints."""
    result, data, _, _, _ = all_rejected
    out = run_python(
        "from ultralytics import YOLO\n"
        f"m = YOLO({str(trained_model)!r}).val(data={str(data)!r}, batch={SETTINGS['batch']}, device='cpu', "
        f"plots=False, verbose=False, project={str(tmp_path)!r}, name='val')\n"
        "print(m.box.map, m.box.map50)\n"
    )
    yolo_val = [float(v) for v in out.strip().splitlines()[-1].split()]
    base = result.summary["base"]
    assert [base["yolo_val_map50_95"], base["yolo_val_map50"]] == pytest.approx(yolo_val, abs=1e-12)
    assert abs(base["map50_95"] - yolo_val[0]) > 1e-3  # on these 128-px images yolo val letterboxes to 160 px
    assert base["map50_95"] == result.steps[0]["map50_95"] and base["onnx_map50_95"] == pytest.approx(
        base["map50_95"], abs=0.005)  # fmt: skip
    assert "mAP50-95 (yolo val)" in (result.run_dir / "report.md").read_text()


def test_labels_ultralytics_drops_are_shown_even_when_quiet(all_rejected):
    result, _, _, err, image = all_rejected
    assert (f"warning: Ultralytics drops 1 of 20 train images (corrupt image or label), e.g. {image}: ignoring "
            "corrupt image/label: Label class 7 exceeds dataset class count 3") in err  # fmt: skip
    assert result.steps[0]["map50_95"] > 0.05  # the val split is intact: the run went on


def test_a_fine_tuning_that_lowers_the_map_is_not_kept(trained_model, shapes128_data_yaml, tmp_path, capsys):
    """One epoch of SGD at a learning rate of 1 ruins the model: the step keeps the weights it had before fine-tuning
    (its mAP is the pruned model's, its checkpoint the pruned model) and says so in one line."""
    cfg = tmp_path / "ruin.yaml"
    cfg.write_text("optimizer: SGD\nlr0: 1.0\nwarmup_epochs: 0\nmomentum: 0.9\nnbs: 8\n")
    settings = {**SETTINGS, "iterative_steps": 1, "target_prune_rate": 0.1, "epochs": 1, "max_map_drop": 1.0}
    result = prune(model=str(trained_model), data=str(shapes128_data_yaml), cfg=str(cfg), project=str(tmp_path),
                   **settings)  # fmt: skip
    row = result.steps[1]
    assert row["status"] == "kept" and row["map50_95_pruned"] > 0.05
    assert row["map50_95"] == row["map50_95_pruned"] and row["map50"] == row["map50_pruned"]
    results = (result.run_dir / "finetune" / "step_01" / "results.csv").read_text().splitlines()
    tuned = float(results[-1].split(",")[results[0].split(",").index("metrics/mAP50-95(B)")])
    assert tuned < row["map50_95_pruned"]  # the fine-tuning ran, and did worse
    line = next(x for x in capsys.readouterr().out.splitlines() if "fine-tuning lowered" in x)
    assert line.startswith("step 1/1") and f"from {row['map50_95_pruned']:.3f}" in line
    assert line.endswith("the step keeps its pruned weights")
    pruned = load_detector(result.run_dir / "weights" / "step_01.pt")
    assert result.summary["final"]["map50_95"] == row["map50_95"]
    assert layer_widths(pruned) == layer_widths(load_detector(result.final_pt))
