"""Pruning steps on a real YOLOv8n: widths follow the schedule, MACs fall every step, the head's outputs stay, and
with yaml widths every width is one an Ultralytics model yaml states."""

import pytest
import torch
import torch.nn as nn

from yolo_prune.checkpoint import load_detector
from yolo_prune.evaluation import count_macs_params, layer_widths
from yolo_prune.methods import make_method
from yolo_prune.structure import C2f_v2, ModelAdapter
from yolo_prune.structure.model_yaml import stock_yaml
from yolo_prune.methods.base import keep_count
from yolo_prune.settings import resolve_settings
from ultralytics.nn.modules import C2f

IMGSZ = 64


def stock_model() -> nn.Module:
    return load_detector("yolov8n.yaml", nc=3)


def fixed_outputs(model: nn.Module) -> list[nn.Module]:
    """The head's outputs whose width the task fixes (class count, box encoding)."""
    return ModelAdapter.of(model, "model").task.fixed_outputs(model, prune_head=True)


def head_outputs(model: nn.Module) -> list[int]:
    return [m.out_channels for m in fixed_outputs(model) if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("round_to", [1, 8])
def test_free_depgraph_steps_reach_the_scheduled_widths(round_to):
    settings = resolve_settings(overrides={"target_prune_rate": 0.5, "round_to": round_to, "yaml_widths": False})
    model = stock_model()
    method = make_method(settings, ModelAdapter.of(model, "model"))
    base = layer_widths(model)
    head = head_outputs(model)
    macs, rates = [count_macs_params(model, IMGSZ)[0]], []
    for k in (1, 2, 3):
        rates.append(method.prune(model, k, 3, base, IMGSZ))
        macs.append(count_macs_params(model, IMGSZ)[0])
        assert not any(isinstance(m, C2f_v2) for m in model.modules())  # stock form in, stock form out
    assert all(a > b for a, b in zip(macs, macs[1:])), macs
    assert rates[0] < rates[1] < rates[2] == pytest.approx(0.5, abs=0.02)
    final = layer_widths(model)
    head_convs = {id(m) for m in fixed_outputs(model)}
    names = {n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and id(m) not in head_convs}
    changed = {n for n in names if final[n] != base[n]}
    assert len(changed) > 0.9 * len(names)
    c2f_cv1 = {f"model.{i}.cv1.conv" for i, m in enumerate(model.model) if isinstance(m, C2f)}
    for n in changed:  # a C2f's cv1 holds both halves, each cut on its own
        assert final[n] == (2 * keep_count(base[n] // 2, 0.5, round_to) if n in c2f_cv1 else keep_count(base[n], 0.5, round_to))
        assert final[n] % round_to == 0
    assert head_outputs(model) == head  # class count and box encoding unchanged
    with torch.no_grad():
        y = model.eval()(torch.zeros(1, 3, IMGSZ, IMGSZ))[0]
    assert y.shape == (1, 4 + 3, 84)


def test_prune_head_off_leaves_the_head_whole():
    settings = resolve_settings(overrides={"prune_head": False, "yaml_widths": False})
    model = stock_model()
    method = make_method(settings, ModelAdapter.of(model, "model"))
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


@pytest.mark.parametrize("method", ["depgraph", "slim"])
def test_default_widths_are_multiples_of_round_to_and_rebuild_from_the_yaml(method):
    """The default (yaml widths, round_to 8): every pruned width is one Ultralytics' own yaml rules give, so the
    model's yaml rebuilds it exactly; widths Ultralytics derives follow its rules, not the method."""
    settings = resolve_settings(overrides={"method": method, "target_prune_rate": 0.5})
    assert settings["yaml_widths"] and settings["round_to"] == 8
    model = with_spread_gammas(stock_model())
    base = layer_widths(model)
    rate = make_method(settings, ModelAdapter.of(model, "model")).prune(model, 1, 1, base, IMGSZ)
    final = layer_widths(model)
    head = model.model[-1]
    fixed = {id(x) for m in fixed_outputs(model) for x in m.modules()}
    pruned = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and id(m) not in fixed]
    assert all(final[n] % 8 == 0 for n in pruned), {n: final[n] for n in pruned if final[n] % 8}
    assert sum(final[n] for n in pruned) < 0.75 * sum(base[n] for n in pruned)
    assert 0.4 < rate < 0.55
    p3 = head.cv2[0][0].conv.in_channels
    assert p3 < base["model.15.cv2.conv"]
    assert {seq[0].conv.out_channels for seq in head.cv2} == {max(16, p3 // 4, 4 * head.reg_max)}  # Detect's rule
    assert {seq[0].conv.out_channels for seq in head.cv3} == {max(p3, min(head.nc, 100))}
    sppf = model.model[9]
    assert sppf.cv1.conv.out_channels == sppf.cv1.conv.in_channels // 2  # SPPF's c_ = c1 // 2
    assert stock_yaml(model)[1] is None


def with_spread_gammas(model: nn.Module) -> nn.Module:
    """BN scales spread over [0, 1), as after sparse training, so that slimming's threshold has choices to make."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.copy_(torch.rand(m.num_features, generator=g))
    return model
