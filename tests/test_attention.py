"""YOLO11 and YOLO26 prune with Torch-Pruning once their attention is one fixed unit (``yolo_prune.attention``):
wrapping changes nothing, groups build in seconds, a cut at 0.5 leaves the attention bitwise unchanged and the rest
smaller, and both branches of YOLO26's end-to-end head follow the P3-P5 widths."""

import copy
import time

import pytest
import torch
import torch.nn as nn
import torch_pruning as tp
from ultralytics.nn.modules.block import C2PSA, Attention

from yolo_prune.attention import (
    CUSTOMIZED_PRUNERS,
    OpaqueBlock,
    attention_ignored_layers,
    opaque_attention,
    unwrap_attention,
    unwrapped_name,
    wrap_attention,
)
from yolo_prune.checkpoint import load_detector
from yolo_prune.evaluation import count_macs_params
from yolo_prune.methods.base import ignored_layers, prunable_groups
from yolo_prune.surgery import C2f_v2, replace_c2f

IMGSZ = 64
FAMILIES = ["yolo11n.yaml", "yolo26n.yaml"]


def prunable_form(source: str) -> nn.Module:
    """A detector built from Ultralytics' bundled yaml, with the BatchNorm settings of a trained model, C2f swapped."""
    model = load_detector(source, nc=3)
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps, m.momentum = 1e-3, 0.03
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    replace_c2f(model)
    return model


def image() -> torch.Tensor:
    return torch.rand(2, 3, IMGSZ, IMGSZ, generator=torch.Generator().manual_seed(1))


def flat(out) -> list[torch.Tensor]:
    return tp.utils.flatten_as_list(out)


def prune_half(model: nn.Module) -> None:
    """Torch-Pruning's GroupNormPruner at rate 0.5 on every prunable layer, attention wrapped for the cut only."""
    with opaque_attention(model):
        pruner = tp.pruner.GroupNormPruner(
            model, torch.zeros(1, 3, IMGSZ, IMGSZ), importance=tp.importance.GroupMagnitudeImportance(p=2),
            pruning_ratio=0.5, ignored_layers=ignored_layers(model, True) + attention_ignored_layers(model),
            customized_pruners=CUSTOMIZED_PRUNERS,
        )  # fmt: skip
        pruner.step()


@pytest.mark.parametrize(("source", "units"), [("yolo11n.yaml", 1), ("yolo26n.yaml", 2)])
def test_wrap_and_unwrap_change_nothing(source, units):
    """One unit per C2PSA (its PSABlock chain) and per other Attention (YOLO26's C3k2 with attention)."""
    model = prunable_form(source).train()
    model.model[10].eval()  # the C2PSA: a mixed train/eval tree must come back exactly as it was
    next(m for m in model.modules() if isinstance(m, Attention)).pe.eval()
    before = [(n, m, m.training) for n, m in model.named_modules()]
    stock = copy.deepcopy(model)

    wrapped = wrap_attention(model)
    assert wrapped == units
    blocks = [m for m in model.modules() if isinstance(m, OpaqueBlock)]
    assert all(m in {x for b in blocks for x in b.inner.modules()} for m in model.modules() if isinstance(m, Attention))
    assert all(b.training == b.inner.training for b in blocks) and not all(b.training for b in blocks)
    names = {unwrapped_name(n, model): type(m) for n, m in model.named_modules() if not isinstance(m, OpaqueBlock)}
    assert names == {n: type(m) for n, m in stock.named_modules()}
    assert unwrap_attention(model) == wrapped
    assert [(n, m, m.training) for n, m in model.named_modules()] == before  # the same objects, names and modes
    assert not any(type(m).__module__ == "yolo_prune.attention" for m in model.modules())

    x = image()
    with opaque_attention(model):
        for mode in ("train", "eval"):  # train mode also updates BatchNorm statistics inside the wrapper
            getattr(model, mode)(), getattr(stock, mode)()
            with torch.no_grad():
                assert all(torch.equal(a, b) for a, b in zip(flat(model(x)), flat(stock(x)), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), stock.state_dict().values()))


def test_wrapped_attention_refuses_training():
    """Gradients never reach a wrapped attention: training it must fail, not silently freeze it."""
    model = prunable_form("yolo11n.yaml").train()
    with opaque_attention(model):
        loss = sum(t.sum() for t in flat(model(image())))
        with pytest.raises(RuntimeError, match="unwrap it before training"):
            loss.backward()


@pytest.mark.parametrize("source", FAMILIES)
def test_groups_build_in_seconds(source):
    """Unwrapped, get_all_groups does not finish in 120 s on these models (Torch-Pruning 1.6.1)."""
    model = prunable_form(source)
    with opaque_attention(model):
        start = time.perf_counter()
        graph = tp.DependencyGraph().build_dependency(
            model, example_inputs=torch.zeros(1, 3, IMGSZ, IMGSZ), customized_pruners=CUSTOMIZED_PRUNERS
        )
        groups = prunable_groups(graph, ignored_layers(model, True) + attention_ignored_layers(model))
        seconds = time.perf_counter() - start
        inside = {m for b in model.modules() if isinstance(b, OpaqueBlock) for m in b.inner.modules()}
        cut = {dep.target.module for group in groups for dep, _ in group}
    assert seconds < 30, f"{seconds:.1f} s"
    assert len(groups) > 50
    assert not cut & inside


def test_unignored_attention_is_refused():
    """Without attention_ignored_layers the pruner would cut the channels around the attention and break it."""
    model = prunable_form("yolo11n.yaml")
    with opaque_attention(model):
        pruner = tp.pruner.GroupNormPruner(
            model, torch.zeros(1, 3, IMGSZ, IMGSZ), importance=tp.importance.GroupMagnitudeImportance(p=2),
            pruning_ratio=0.5, ignored_layers=ignored_layers(model, True), customized_pruners=CUSTOMIZED_PRUNERS,
        )  # fmt: skip
        with pytest.raises(RuntimeError, match="fixed width"):
            pruner.step()


@pytest.mark.parametrize("source", FAMILIES)
def test_prune_half_keeps_attention_and_shrinks_the_rest(source):
    model = prunable_form(source)
    base = copy.deepcopy(model)
    base_macs, base_params = count_macs_params(base, IMGSZ)
    attention = {n for n, m in base.named_modules() if isinstance(m, Attention)}
    attention_sd = {k: v for k, v in base.state_dict().items() if any(k.startswith(a + ".") for a in attention)}

    prune_half(model)

    assert not any(type(m).__module__ == "yolo_prune.attention" for m in model.modules())
    assert {n for n, m in model.named_modules() if type(m) is Attention} == attention
    pruned_sd = model.state_dict()
    assert all(torch.equal(pruned_sd[k], v) for k, v in attention_sd.items())
    macs, params = count_macs_params(model, IMGSZ)
    assert macs < 0.4 * base_macs and params < 0.45 * base_params
    blocks = dict(base.named_modules())
    for name, block in model.named_modules():
        if isinstance(block, C2PSA):  # the width around the attention is cut, the width inside is not
            old = blocks[name]
            assert block.cv1.conv.out_channels == block.cv2.conv.in_channels == 2 * block.c == old.cv1.conv.out_channels
            assert block.cv1.conv.in_channels < old.cv1.conv.in_channels
            assert block.cv2.conv.out_channels < old.cv2.conv.out_channels
        if isinstance(block, C2f_v2):
            assert block.cv0.conv.out_channels == block.cv1.conv.out_channels  # folds back to a stock C3k2 (chunk)
            assert block.cv2.conv.out_channels < blocks[name].cv2.conv.out_channels
            if any(isinstance(m, Attention) for m in block.modules()):
                assert block.cv1.conv.out_channels == blocks[name].cv1.conv.out_channels
    head, base_head = model.model[-1], base.model[-1]
    for name in ("cv2", "cv3", "one2one_cv2", "one2one_cv3"):
        for seq, base_seq in zip(getattr(head, name, []), getattr(base_head, name, [])):
            assert seq[-1].out_channels == base_seq[-1].out_channels  # class count and box encoding

    x = image()
    model.train()
    assert all(t.isfinite().all() for t in flat(model(x)))
    model.eval()
    with torch.no_grad():
        y = model(x)
    assert y[0].shape == base.eval()(x)[0].shape


def test_end_to_end_head_branches_follow_p3_p5():
    model = prunable_form("yolo26n.yaml")
    head = model.model[-1]
    with opaque_attention(model):
        graph = tp.DependencyGraph().build_dependency(
            model, example_inputs=torch.zeros(1, 3, IMGSZ, IMGSZ), customized_pruners=CUSTOMIZED_PRUNERS
        )
        for level, source in enumerate(head.f):
            producer = model.model[source].cv2.conv
            group = graph.get_pruning_group(producer, tp.prune_conv_out_channels, [0])
            reached = {dep.target.module for dep, _ in group}
            for name in ("cv2", "one2one_cv2"):
                assert getattr(head, name)[level][0].conv in reached
            for name in ("cv3", "one2one_cv3"):  # the depthwise conv each class branch starts with
                assert getattr(head, name)[level][0][0].conv in reached
    prune_half(model)
    for level, source in enumerate(head.f):
        width = model.model[source].cv2.conv.out_channels
        firsts = [head.cv2[level][0], head.one2one_cv2[level][0], head.cv3[level][0][0], head.one2one_cv3[level][0][0]]
        assert [c.conv.in_channels for c in firsts] == [width] * 4
        assert head.cv3[level][0][0].conv.out_channels == head.one2one_cv3[level][0][0].conv.out_channels == width
