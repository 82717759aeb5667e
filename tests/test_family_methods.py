"""Every method through the whole loop on YOLO11 and YOLO26, as on YOLOv8 (whose runs the other test files make):
the speed target, network slimming, distillation and fine-tuning only, one tiny run each (one step, one epoch at
64 px). Each run finishes with a final.pt whose ONNX export computes what PyTorch computes, and leaves the files its
method writes; the YOLOv8 rows live in test_speed_target, test_slimming, test_distill and test_pipeline.
"""

import csv
import json

import pytest
import yaml

from yolo_prune import prune
from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.evaluation import count_macs_params, layer_widths
from yolo_prune.export import ONNX_TOLERANCE
from yolo_prune.methods import make_method
from yolo_prune.settings import resolve_settings
from yolo_prune.structure import ModelAdapter

TINY = dict(imgsz=64, batch=4, workers=0, device="cpu", iterative_steps=1, epochs=1, verbose=False,
            latency_runs=3, latency_warmup=1, latency_threads=1, compare_runtimes=False)  # fmt: skip
CASES = {
    "latency": dict(target_speedup=1.2),
    "slim+distill": dict(method="slim", sr=0.05, sparse_epochs=1, target_prune_rate=0.3, distill=True),
}
FAMILIES = ["yolo11n.yaml", "yolo26n.yaml"]


@pytest.fixture(scope="module", params=[(f, c) for f in FAMILIES for c in CASES], ids=lambda p: f"{p[0]}-{p[1]}")
def run(request, tiny_data_yaml, tmp_path_factory):
    source, case = request.param
    result = prune(model=source, data=str(tiny_data_yaml), project=str(tmp_path_factory.mktemp("runs")),
                   **CASES[case], **TINY)  # fmt: skip
    return case, result


def test_the_run_cuts_and_exports_as_pytorch_computes(run):
    case, result = run
    rows = json.loads((result.run_dir / "steps.json").read_text())
    assert rows[-1]["status"] == "kept" and rows[-1]["step"] == 1
    base, final = load_detector(result.run_dir / "weights" / "base.pt"), load_detector(result.final_pt)
    assert count_macs_params(final, 64)[0] < count_macs_params(base, 64)[0]
    assert result.summary["onnx_output_diff"] < ONNX_TOLERANCE


def test_each_method_leaves_its_own_record(run):
    case, result = run
    folder = result.run_dir
    if case == "latency":
        state = json.loads((folder / "speed_target.json").read_text())
        assert [s["step"] for s in state["steps"]] == [1] and state["floor_ms"] < state["base_ms"]
        assert json.loads((folder / "latency_table.json").read_text())[0]["layers"]
    else:
        assert (folder / "sparsity.csv").is_file() and (folder / "gamma_after.npy").is_file()
        tuned = folder / "finetune" / "step_01"
        assert yaml.safe_load((tuned / "distill.yaml").read_text())["teacher"] == str(folder / "weights" / "base.pt")
        with open(tuned / "results.csv", newline="") as f:
            assert float(next(csv.DictReader(f))["train/kd_loss"]) > 0


@pytest.mark.parametrize("source", FAMILIES)
def test_fine_tuning_only_trains_a_pruned_model_further(source, tiny_data_yaml, tmp_path):
    """Fine-tuning only, distilled from the unpruned model as its teacher, of a model cut once by DepGraph."""
    base = load_detector(source, nc=3)
    teacher = save_checkpoint(tmp_path / "base.pt", base, {"imgsz": 64})
    settings = resolve_settings(overrides={"target_prune_rate": 0.3})
    make_method(settings, ModelAdapter.of(base, source)).prune(base, 1, 1, layer_widths(base), 64)
    pruned = save_checkpoint(tmp_path / "pruned.pt", base, {"imgsz": 64})
    result = prune(model=str(pruned), data=str(tiny_data_yaml), method="finetune", distill=True,
                   teacher=str(teacher), project=str(tmp_path / "runs"), **TINY)  # fmt: skip
    rows = json.loads((result.run_dir / "steps.json").read_text())
    assert [r["phase"] for r in rows] == ["base", "finetune"] and rows[1]["macs"] == rows[0]["macs"]
    assert yaml.safe_load((result.run_dir / "finetune" / "step_01" / "distill.yaml").read_text())["teacher"] == str(
        teacher
    )
    assert result.summary["onnx_output_diff"] < ONNX_TOLERANCE
