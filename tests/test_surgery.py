"""C2f -> C2f_v2 must not change what the model computes, even with trained, non-default BatchNorm settings."""

import copy

import torch
import torch.nn as nn
from ultralytics.nn.modules import C2f

from yolo_prune.checkpoint import load_detector
from yolo_prune.surgery import C2f_v2, replace_c2f


def trained_like(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm what training gives it: Ultralytics' eps/momentum and non-trivial statistics."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps, m.momentum = 1e-3, 0.03
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model


def test_swap_is_exact_in_eval_mode():
    base = trained_like(load_detector("yolov8n.yaml", nc=3)).eval()
    swapped = copy.deepcopy(base)
    n = replace_c2f(swapped)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = base(x)[0], swapped(x)[0]
    assert n == sum(isinstance(m, C2f) for m in base.modules()) == 8
    assert not any(isinstance(m, C2f) for m in swapped.modules())
    assert (a - b).abs().max().item() <= 1e-5


def test_swap_keeps_bn_settings_mode_and_graph_attributes():
    model = trained_like(load_detector("yolov8n.yaml", nc=3)).train()
    originals = [m for m in model.modules() if isinstance(m, C2f)]
    replace_c2f(model)
    blocks = [m for m in model.modules() if isinstance(m, C2f_v2)]
    for old, new in zip(originals, blocks):
        for cv in (new.cv0, new.cv1):
            assert cv.bn.eps == 1e-3 and cv.bn.momentum == 0.03
            assert cv.training and cv.bn.training
            assert cv.conv.out_channels == old.cv1.conv.out_channels // 2
        assert (new.f, new.i, new.type) == (old.f, old.i, old.type)
        assert new.cv2 is old.cv2 and new.m is old.m
    assert type(blocks[0]).__module__ == "yolo_prune.surgery"  # the pickled path checkpoints depend on
