"""YOLO11 and YOLO26 through the whole loop, as YOLOv8 goes: prune 0.5 in two steps with one fine-tuning epoch each,
ONNX equal to PyTorch, a final.pt that stock Ultralytics reloads in a fresh process without yolo-prune and whose yaml
rebuilds it; DepGraph on YOLO11, network slimming on YOLO26 (attention blocks stay whole in both)."""

import json

import pytest
import torch
from ultralytics.nn.modules.block import Attention

from yolo_prune import prune
from yolo_prune.checkpoint import load_detector
from yolo_prune.evaluation import count_macs_params, layer_widths
from yolo_prune.export import ONNX_TOLERANCE
from yolo_prune.structure import ModelAdapter

TINY = dict(imgsz=64, batch=4, workers=0, device="cpu", latency_runs=2, latency_warmup=1, verbose=False,
            compare_runtimes=False)
CASES = {"yolo11n.yaml": dict(method="depgraph"), "yolo26n.yaml": dict(method="slim", sr=0.05, sparse_epochs=1)}


@pytest.fixture(scope="module", params=list(CASES))
def run(request, tiny_data_yaml, tmp_path_factory):
    source = request.param
    result = prune(model=source, data=str(tiny_data_yaml), iterative_steps=2, epochs=1, target_prune_rate=0.5,
                   project=str(tmp_path_factory.mktemp("runs")), **CASES[source], **TINY)  # fmt: skip
    return source, result


def test_two_steps_cut_half_and_keep_the_attention(run):
    source, result = run
    rows = [r for r in json.loads((result.run_dir / "steps.json").read_text()) if r["phase"] == "prune"]
    assert [r["step"] for r in rows] == [1, 2] and all(r["status"] == "kept" for r in rows)
    assert rows[0]["macs"] > rows[1]["macs"] and 0.4 < rows[1]["rate"] < 0.56
    base, final = load_detector(result.run_dir / "weights" / "base.pt"), load_detector(result.final_pt)
    attention = [n for n, m in base.named_modules() if isinstance(m, Attention)]
    assert attention
    b, f = base.state_dict(), final.state_dict()
    for name in attention:  # fine-tuning trains it, pruning never cuts it
        assert all(f[k].shape == b[k].shape for k in b if k.startswith(name + "."))
    assert count_macs_params(final, 64)[0] < 0.6 * count_macs_params(base, 64)[0]


def test_onnx_matches_pytorch_and_final_reloads_without_yolo_prune(run, run_python):
    _, result = run
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["onnx_output_diff"] < ONNX_TOLERANCE
    out = run_python(
        "import sys; sys.modules['yolo_prune'] = None\nimport json, torch\nfrom ultralytics import YOLO\n"
        "from ultralytics.nn.tasks import DetectionModel\n"
        f"m = YOLO({str(result.final_pt)!r})\n"
        "n = sum(p.numel() for p in m.model.parameters())\n"
        "rebuilt = DetectionModel(m.model.yaml, nc=m.model.model[-1].nc, verbose=False)\n"
        "m.predict(torch.rand(1, 3, 64, 64), imgsz=64, verbose=False)\n"
        "print(json.dumps([n, sum(p.numel() for p in rebuilt.parameters())]))\n"
    )
    n, rebuilt = json.loads(out.strip().splitlines()[-1])
    assert n == rebuilt == sum(p.numel() for p in load_detector(result.final_pt).parameters())


def test_widths_are_multiples_of_the_default_round_to(run):
    _, result = run
    final = load_detector(result.final_pt)
    outputs = ModelAdapter.of(final, "final").fixed(final, prune_head=True)  # class count etc.
    fixed = {id(m) for layer in outputs for m in layer.modules()}
    widths = {n: m.out_channels for n, m in final.named_modules() if isinstance(m, torch.nn.Conv2d) and id(m) not in fixed}
    assert all(w % 8 == 0 for w in widths.values()), {n: w for n, w in widths.items() if w % 8}
    assert layer_widths(final) != layer_widths(load_detector(result.run_dir / "weights" / "base.pt"))
