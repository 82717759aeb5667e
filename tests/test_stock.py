"""Pruned checkpoints are stock Ultralytics models: they load, predict, validate, export and train with Ultralytics
alone, in a fresh process where yolo_prune cannot even be imported, and stock training never silently changes them.

The checkpoints come from pruning the trained fixture model in process (``save_checkpoint`` is what every run uses
for base, steps and final); ``test_pipeline`` checks the files of a whole run.
"""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.evaluation import layer_widths
from yolo_prune.methods import make_method
from yolo_prune.settings import resolve_settings
from yolo_prune.structure import C2f_v2, ModelAdapter
from yolo_prune.structure.model_yaml import REFUSAL
from yolo_prune.structure.parts import enter

IMGSZ = 64
# Make `import yolo_prune` fail in the fresh process: what a machine without yolo-prune sees.
NO_YOLO_PRUNE = "import sys; sys.modules['yolo_prune'] = None\n"
TRAIN = "epochs=1, imgsz=64, batch=4, workers=0, device='cpu', plots=False, exist_ok=True"


def _pruned(trained_model: Path, **overrides) -> torch.nn.Module:
    """The trained fixture model cut once, without fine-tuning: at rate 0.2 it still finds the shapes at 128 px."""
    model = load_detector(trained_model)
    settings = resolve_settings(overrides={"target_prune_rate": 0.2, **overrides})
    make_method(settings, ModelAdapter.of(model, "model")).prune(model, 1, 1, layer_widths(model), IMGSZ)
    return model


@pytest.fixture(scope="module")
def yaml_pt(trained_model, tmp_path_factory) -> Path:
    """A trained yolov8n pruned with the default width rules (widths a model yaml can state), saved as runs save."""
    return save_checkpoint(tmp_path_factory.mktemp("stock") / "final.pt", _pruned(trained_model), {"imgsz": IMGSZ})


@pytest.fixture(scope="module")
def free_pt(trained_model, tmp_path_factory) -> Path:
    """The same pruned with exact shares (round_to 1): widths no model yaml can state."""
    model = _pruned(trained_model, round_to=1, yaml_widths=False)
    return save_checkpoint(tmp_path_factory.mktemp("free") / "final.pt", model, {"imgsz": IMGSZ})


def _params(pt: Path) -> int:
    return sum(p.numel() for p in load_detector(pt).parameters())


def test_folded_model_computes_what_the_pruned_model_computes(trained_model):
    """The stock C2f blocks of a pruned trained model give the outputs of its prunable form, with both forward
    (chunk) and forward_split (the exporter's)."""
    stock = _pruned(trained_model).eval()
    v2 = copy.deepcopy(stock)
    enter(v2)
    assert sum(isinstance(m, C2f_v2) for m in v2.modules()) == 8
    x = torch.rand(2, 3, IMGSZ, IMGSZ, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = v2.eval()(x)[0]
        assert (stock(x)[0] - expected).abs().max().item() <= 1e-5
        for m in stock.modules():
            if hasattr(m, "forward_split"):
                m.forward = m.forward_split
        assert (stock(x)[0] - expected).abs().max().item() <= 1e-5


def test_stock_ultralytics_alone_loads_predicts_validates_and_exports(yaml_pt, shapes128_data_yaml, run_python, tmp_path):
    out = run_python(
        NO_YOLO_PRUNE + "import json, torch\n"
        "from ultralytics import YOLO\n"
        f"m = YOLO({str(yaml_pt)!r})\n"
        "n = sum(p.numel() for p in m.model.parameters())\n"
        f"r = m.predict(torch.rand(1, 3, {IMGSZ}, {IMGSZ}), imgsz={IMGSZ}, verbose=False)\n"
        f"v = m.val(data={str(shapes128_data_yaml)!r}, imgsz=128, batch=4, device='cpu', plots=False, "
        f"verbose=False, project={str(tmp_path)!r})\n"
        f"onnx = YOLO({str(yaml_pt)!r}).export(format='onnx', imgsz={IMGSZ})\n"
        f"ts = YOLO({str(yaml_pt)!r}).export(format='torchscript', imgsz={IMGSZ})\n"
        "print(json.dumps({'n': n, 'boxes': len(r[0].boxes), 'map': float(v.box.map), 'onnx': onnx, 'ts': ts,\n"
        "                  'ours': [k for k in sys.modules if k.startswith('yolo_prune') and sys.modules[k]]}))\n"
    )
    result = json.loads(out.strip().splitlines()[-1])
    assert result["n"] == _params(yaml_pt) and result["ours"] == []
    assert 0.0 < result["map"] <= 1.0  # a trained model, lightly pruned without fine-tuning, still finds shapes
    assert Path(result["onnx"]).stat().st_size > 0 and Path(result["ts"]).stat().st_size > 0


@pytest.mark.parametrize("which", ["yaml_pt", "free_pt"])
def test_safe_load_accepts_the_checkpoint(which, request, run_python):
    pt = request.getfixturevalue(which)
    out = run_python(
        "import os; os.environ['ULTRALYTICS_SAFE_LOAD'] = '1'\n" + NO_YOLO_PRUNE + "import torch\n"
        "from ultralytics import YOLO\n"
        f"m = YOLO({str(pt)!r})\n"
        f"m.predict(torch.rand(1, 3, {IMGSZ}, {IMGSZ}), imgsz={IMGSZ}, verbose=False)\n"
        "print(sum(p.numel() for p in m.model.parameters()))\n"
    )
    assert int(out.strip().splitlines()[-1]) == _params(pt)


def test_stock_training_keeps_the_pruned_model(yaml_pt, shapes128_data_yaml, run_python, tmp_path):
    """``YOLO(final.pt).train()`` rebuilds from model.yaml: a yaml that states the pruned widths keeps them all."""
    out = run_python(
        NO_YOLO_PRUNE + "from ultralytics import YOLO\n"
        f"m = YOLO({str(yaml_pt)!r})\n"
        f"m.train(data={str(shapes128_data_yaml)!r}, {TRAIN}, project={str(tmp_path)!r}, name='api')\n"
        "print(sum(p.numel() for p in m.model.parameters()))\n"
    )
    assert int(out.strip().splitlines()[-1]) == _params(yaml_pt)
    for pt in (tmp_path / "api" / "weights").glob("*.pt"):
        assert layer_widths(load_detector(pt)) == layer_widths(load_detector(yaml_pt))


def test_yolo_train_cli_keeps_the_pruned_model(yaml_pt, shapes128_data_yaml, tmp_path):
    yolo = Path(sys.executable).parent / "yolo"
    done = subprocess.run([str(yolo), "train", f"model={yaml_pt}", f"data={shapes128_data_yaml}", "epochs=1",
                           f"imgsz={IMGSZ}", "batch=4", "workers=0", "device=cpu", "plots=False",
                           f"project={tmp_path}", "name=cli"], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Transferred" in done.stdout + done.stderr
    last = tmp_path / "cli" / "weights" / "last.pt"
    assert _params(last) == _params(yaml_pt)
    assert layer_widths(load_detector(last)) == layer_widths(load_detector(yaml_pt))


def test_stock_training_of_free_widths_stops_with_a_message_naming_what_works(free_pt, shapes128_data_yaml, tmp_path):
    code = (
        NO_YOLO_PRUNE + "from ultralytics import YOLO\n"
        f"YOLO({str(free_pt)!r}).train(data={str(shapes128_data_yaml)!r}, {TRAIN}, project={str(tmp_path)!r})\n"
    )
    before = free_pt.read_bytes()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    assert "yolo-prune --method finetune" in done.stderr and "PrunedModelTrainer" in done.stderr
    assert not list(tmp_path.rglob("*.pt")) and free_pt.read_bytes() == before
    assert REFUSAL.split("{")[0] in done.stderr


def test_the_trainer_the_message_names_keeps_free_widths(free_pt, shapes128_data_yaml, tmp_path):
    from ultralytics import YOLO

    from yolo_prune.training import PrunedModelTrainer

    model = YOLO(str(free_pt))
    model.train(data=str(shapes128_data_yaml), epochs=1, imgsz=IMGSZ, batch=4, workers=0, device="cpu", plots=False,
                project=str(tmp_path), name="ours", trainer=PrunedModelTrainer)  # fmt: skip
    assert sum(p.numel() for p in model.model.parameters()) == _params(free_pt)
