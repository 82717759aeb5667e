"""The DepGraph pipeline end to end on a tiny real run: step log, outputs, structure kept by fine-tuning,
checkpoints that reload in a fresh process, ONNX that matches PyTorch, and the multi-GPU hand-off."""

import json

import numpy as np
import pytest
import torch
import yaml

from yolo_prune import prune
from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.cli import main
from yolo_prune.evaluation import count_macs_params, layer_widths
from yolo_prune.export import ONNX_TOLERANCE
from yolo_prune.methods import make_method
from yolo_prune.structure import ModelAdapter
from yolo_prune.settings import resolve_settings
from yolo_prune.training import PrunedModelTrainer, finetune

TINY = dict(imgsz=64, batch=4, workers=0, device="cpu", latency_runs=3, latency_warmup=1, verbose=False,
            compare_runtimes=False)


@pytest.fixture(scope="module")
def run(tiny_data_yaml, tmp_path_factory):
    project = tmp_path_factory.mktemp("runs") / "Prüfläufe-実験"  # a non-ASCII path, kept readable in settings.yaml
    return prune(model="yolov8n.yaml", data=str(tiny_data_yaml), iterative_steps=2, epochs=1, target_prune_rate=0.5,
                 project=str(project), **TINY)  # fmt: skip


def pruned_model(rate: float = 0.5) -> torch.nn.Module:
    model = load_detector("yolov8n.yaml", nc=3)
    settings = resolve_settings(overrides={"target_prune_rate": rate})
    make_method(settings, ModelAdapter.of(model, "model")).prune(model, 1, 1, layer_widths(model), 64)
    return model


def test_step_log_has_every_step_and_macs_fall(run):
    rows = json.loads((run.run_dir / "steps.json").read_text())
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert [r["phase"] for r in rows] == ["base", "prune", "prune"]
    macs = [r["macs"] for r in rows]
    assert macs[0] > macs[1] > macs[2]
    assert rows[-1]["target_rate"] == pytest.approx(0.5)
    assert rows[-1]["macs_ratio"] == pytest.approx(macs[2] / macs[0])
    assert all(r["status"] == "kept" and (run.run_dir / r["checkpoint"]).is_file() for r in rows)
    csv_lines = (run.run_dir / "steps.csv").read_text().strip().splitlines()
    assert len(csv_lines) == 1 + len(rows)


def test_every_checkpoint_holds_only_torch_and_ultralytics_classes(run):
    """Stock Ultralytics loads what a run writes without yolo-prune: no pickled class of ours, so no AutoInstall
    attempt for a package named after our module, and ULTRALYTICS_SAFE_LOAD's allow-list accepts them."""
    checkpoints = sorted(run.run_dir.rglob("*.pt"))
    assert {p.name for p in checkpoints} >= {"base.pt", "step_01.pt", "step_02.pt", "final.pt", "best.pt", "last.pt"}
    for pt in checkpoints:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(str(pt))
        assert all(g.startswith(("torch.", "ultralytics.", "collections.", "builtins.")) for g in found), (pt, found)
    rows = json.loads((run.run_dir / "steps.json").read_text())
    assert 0 < rows[1]["rate"] < rows[2]["rate"] <= 0.55  # the share of channels really removed, per step


def test_report_says_the_widths_run_fast_and_stock_training_keeps_them(run):
    """A default run: every pruned width a multiple of the default round_to (8), which the report states, and a
    final model that `yolo train` keeps (its yaml states every width)."""
    layers = json.loads((run.run_dir / "layers.json").read_text())
    fixed = set(layers["fixed"])
    assert fixed and all(n.startswith("model.22.") for n in fixed)  # the head's prediction convs and DFL
    assert all(w % 8 == 0 for n, w in layers["final"].items() if n not in fixed)
    md = run.report.read_text()
    assert "Every pruned width is a multiple of 8, which ONNX Runtime cpu's kernels run at full speed." in md
    assert "`yolo train model=final.pt` trains this pruned model further as it is" in md
    assert json.loads((run.run_dir / "summary.json").read_text())["yaml_note"] is None


def test_outputs_exist_and_onnx_matches_pytorch(run):
    for rel in ("settings.yaml", "layers.json", "summary.json", "report.md", "report.html",
                "weights/base.pt", "weights/final.pt", "weights/final.onnx", "weights/base.onnx"):  # fmt: skip
        assert (run.run_dir / rel).is_file(), rel
    assert run.final_pt == run.run_dir / "weights" / "final.pt" and run.onnx.suffix == ".onnx"
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["onnx_output_diff"] < ONNX_TOLERANCE
    assert summary["onnx_output_rounding"] < 1e-5 and summary["onnx_output_tolerance"] == ONNX_TOLERANCE
    assert summary["final"]["onnx_bytes"] < summary["base"]["onnx_bytes"]
    assert summary["final"]["latency"]["median_ms"] > 0
    layers = json.loads((run.run_dir / "layers.json").read_text())
    assert layers["final"] == layer_widths(load_detector(run.final_pt))
    settings = (run.run_dir / "settings.yaml").read_text(encoding="utf-8")
    assert f"project: {run.run_dir.parent}\n" in settings and "\\u" not in settings
    assert yaml.safe_load(settings)["project"] == str(run.run_dir.parent)


def test_resuming_a_finished_run_says_so_and_changes_nothing(run, capfd, digests):
    before = digests(run.run_dir)
    assert main(["--resume", str(run.run_dir), "--quiet"]) == 0
    out, err = capfd.readouterr()
    assert out == (f"{run.run_dir} has finished: nothing to resume, nothing changed "
                   f"(yolo-prune --report {run.run_dir} rebuilds its report)\n")  # fmt: skip
    assert err == ""
    assert digests(run.run_dir) == before  # not re-exported, re-timed or rewritten


def test_final_pt_reloads_in_a_fresh_process(run, tiny_data_yaml, run_python):
    out = run_python(
        "import json, torch\n"
        "from ultralytics import YOLO\n"
        f"m = YOLO({str(run.final_pt)!r})\n"
        "n = sum(p.numel() for p in m.model.parameters())  # before predict: Ultralytics 8.3 fuses Conv+BN in place\n"
        f"r = m.predict(torch.zeros(1, 3, 64, 64), imgsz=64, verbose=False)\n"
        f"v = m.val(data={str(tiny_data_yaml)!r}, imgsz=64, batch=4, device='cpu', plots=False, verbose=False)\n"
        "print(json.dumps({'n': n, 'map': float(v.box.map)}))\n"
    )
    result = json.loads(out.strip().splitlines()[-1])
    assert result["n"] == count_macs_params(load_detector(run.final_pt), 64)[1]


def test_finetuning_keeps_the_pruned_structure_and_saves_what_it_returns(tiny_data_yaml, tmp_path, run_python):
    model = pruned_model()
    widths, params = layer_widths(model), sum(p.numel() for p in model.parameters())
    tuned = finetune(model, str(tiny_data_yaml), {**{k: TINY[k] for k in ("imgsz", "batch", "workers", "device")},
                                                  "epochs": 1, "plots": False}, tmp_path / "ft")  # fmt: skip
    assert layer_widths(tuned) == widths
    assert sum(p.numel() for p in tuned.parameters()) == params
    assert not (tmp_path / "ft_input.pt").exists()  # the hand-off checkpoint is removed after training
    saved = save_checkpoint(tmp_path / "tuned.pt", tuned, {})
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    np.save(tmp_path / "x.npy", x.numpy())
    with torch.no_grad():
        expected = tuned.eval()(x)[0].numpy()
    run_python(
        "import numpy as np, torch\n"
        "from ultralytics import YOLO\n"
        f"m = YOLO({str(saved)!r}).model.eval()\n"
        f"x = torch.from_numpy(np.load({str(tmp_path / 'x.npy')!r}))\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, m(x)[0].detach().numpy())\n"
    )
    assert np.abs(np.load(tmp_path / "y.npy") - expected).max() <= 1e-5


def test_multi_gpu_workers_rebuild_the_pruned_model_from_the_checkpoint(tiny_data_yaml, tmp_path):
    """Ultralytics' DDP workers build ``type(trainer)(overrides=vars(trainer.args))`` in a new process and set the
    model up from ``args.model``: that must give the pruned module, not a full-width model rebuilt from its yaml."""
    from ultralytics.utils import DEFAULT_CFG_DICT

    model = pruned_model()
    handoff = save_checkpoint(tmp_path / "handoff.pt", model, {})
    parent = PrunedModelTrainer(overrides={"model": str(handoff), "data": str(tiny_data_yaml), "imgsz": 64,
                                           "device": "cpu", "project": str(tmp_path), "name": "ddp", "plots": False})  # fmt: skip
    assert f"{type(parent).__module__}.{type(parent).__name__}" == "yolo_prune.training.PrunedModelTrainer"
    worker = type(parent)(cfg=DEFAULT_CFG_DICT.copy(), overrides=vars(parent.args))
    worker.setup_model()
    assert isinstance(worker.model, torch.nn.Module)
    assert layer_widths(worker.model) == layer_widths(model)
    assert sum(p.numel() for p in worker.model.parameters()) == sum(p.numel() for p in model.parameters())


def test_a_pruned_model_fine_tunes_further_without_growing_back(run, tiny_data_yaml, tmp_path):
    further = prune(model=str(run.final_pt), data=str(tiny_data_yaml), method="finetune", iterative_steps=1, epochs=1,
                    project=str(tmp_path), **TINY)  # fmt: skip
    rows = json.loads((further.run_dir / "steps.json").read_text())
    assert [r["phase"] for r in rows] == ["base", "finetune"]
    assert rows[0]["params"] == rows[1]["params"] == count_macs_params(load_detector(run.final_pt), 64)[1]
    assert layer_widths(load_detector(further.final_pt)) == layer_widths(load_detector(run.final_pt))
