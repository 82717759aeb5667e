"""Pruning steps on a real YOLOv8n: widths follow the schedule, MACs fall every step, the head's outputs stay."""

import pytest
import torch
import torch.nn as nn

from yolo_prune.checkpoint import load_detector
from yolo_prune.evaluation import count_macs_params, layer_widths
from yolo_prune.methods import make_method
from yolo_prune.methods.base import ignored_layers, keep_count
from yolo_prune.settings import resolve_settings
from yolo_prune.surgery import replace_c2f

IMGSZ = 64


def swapped_model() -> nn.Module:
    model = load_detector("yolov8n.yaml", nc=3)
    replace_c2f(model)
    return model


def head_outputs(model: nn.Module) -> list[int]:
    return [m.out_channels for m in ignored_layers(model, prune_head=True) if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("round_to", [1, 8])
def test_depgraph_steps_reach_the_scheduled_widths(round_to):
    settings = resolve_settings(overrides={"target_prune_rate": 0.5, "round_to": round_to})
    model, method = swapped_model(), make_method(settings)
    base = layer_widths(model)
    head = head_outputs(model)
    macs = [count_macs_params(model, IMGSZ)[0]]
    for k in (1, 2, 3):
        method.prune(model, k, 3, base, IMGSZ)
        macs.append(count_macs_params(model, IMGSZ)[0])
    assert all(a > b for a, b in zip(macs, macs[1:])), macs
    final = layer_widths(model)
    head_convs = {id(m) for m in ignored_layers(model, prune_head=True)}
    names = {n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and id(m) not in head_convs}
    changed = {n for n in names if final[n] != base[n]}
    assert len(changed) > 0.9 * len(names)
    for n in changed:
        assert final[n] == keep_count(base[n], 0.5, round_to)
        assert final[n] % round_to == 0
    assert head_outputs(model) == head  # class count and box encoding unchanged
    with torch.no_grad():
        y = model.eval()(torch.zeros(1, 3, IMGSZ, IMGSZ))[0]
    assert y.shape == (1, 4 + 3, 84)


def test_prune_head_off_leaves_the_head_whole():
    settings = resolve_settings(overrides={"prune_head": False})
    model, method = swapped_model(), make_method(settings)
    base = layer_widths(model)
    method.prune(model, 1, 1, base, IMGSZ)
    after = layer_widths(model)
    head = {n for n in base if n.startswith("model.22.")}
    assert all(after[n] == base[n] for n in head)
    assert sum(after[n] < base[n] for n in base if n not in head) > 20


def test_keep_count_rounds_and_floors():
    assert keep_count(64, 0.5, 1) == 32
    assert keep_count(64, 0.5, 8) == 32
    assert keep_count(48, 0.3, 8) == 16  # 14.4 -> nearest multiple of 8
    assert keep_count(16, 0.01, 8) == 8  # never below one multiple
    assert keep_count(4, 0.5, 8) == 4  # never above the layer itself
