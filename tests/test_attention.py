"""YOLO11 and YOLO26 prune with Torch-Pruning once their attention is one fixed unit (``structure.attention``):
wrapping changes nothing, groups build in seconds, a cut at 0.5 leaves the attention bitwise unchanged and the rest
smaller, and both branches of YOLO26's end-to-end head follow the P3-P5 widths."""

import copy
import time

import pytest
import torch
import torch.nn as nn
import torch_pruning as tp
from ultralytics.nn.modules.block import C2PSA, Attention, C3k2

from yolo_prune.checkpoint import load_detector
from yolo_prune.evaluation import count_macs_params
from yolo_prune.methods.base import prunable_groups
from yolo_prune.structure import CUSTOMIZED_PRUNERS, ModelAdapter, OpaqueBlock, stock_name
from trained import trained_like as trained

IMGSZ = 64
FAMILIES = ["yolo11n.yaml", "yolo26n.yaml"]


def trained_like(source: str) -> nn.Module:
    """A detector built from Ultralytics' bundled yaml, with the BatchNorm settings of a trained model."""
    return trained(load_detector(source, nc=3))


def form(model: nn.Module):
    """The one prunable form: C2f blocks split, attention wrapped."""
    return ModelAdapter.of(model, "model").prunable_form(model)


def fixed(model: nn.Module) -> list[nn.Module]:
    return ModelAdapter.of(model, "model").fixed(model, prune_head=True)


def image() -> torch.Tensor:
    return torch.rand(2, 3, IMGSZ, IMGSZ, generator=torch.Generator().manual_seed(1))


def flat(out) -> list[torch.Tensor]:
    return tp.utils.flatten_as_list(out)


def prune_half(model: nn.Module) -> None:
    """Torch-Pruning's GroupNormPruner at rate 0.5 on every prunable layer, in the prunable form for the cut only."""
    with form(model):
        pruner = tp.pruner.GroupNormPruner(
            model, torch.zeros(1, 3, IMGSZ, IMGSZ), importance=tp.importance.GroupMagnitudeImportance(p=2),
            pruning_ratio=0.5, ignored_layers=fixed(model), customized_pruners=CUSTOMIZED_PRUNERS,
        )  # fmt: skip
        pruner.step()


@pytest.mark.parametrize(("source", "units"), [("yolo11n.yaml", 1), ("yolo26n.yaml", 2)])
def test_wrap_and_unwrap_change_nothing(source, units):
    """One unit per C2PSA (its PSABlock chain) and per other Attention (YOLO26's C3k2 with attention)."""
    model = trained_like(source).train()
    model.model[10].eval()  # the C2PSA: a mixed train/eval tree must come back exactly as it was
    next(m for m in model.modules() if isinstance(m, Attention)).pe.eval()
    stock = copy.deepcopy(model)
    attention_before = [(n, m, m.training) for n, m in model.named_modules() if isinstance(m, (Attention, C2PSA))]

    x = image()
    with form(model):
        blocks = [m for m in model.modules() if isinstance(m, OpaqueBlock)]
        assert len(blocks) == units
        wrapped = {x for b in blocks for x in b.inner.modules()}
        assert all(m in wrapped for m in model.modules() if isinstance(m, Attention))
        assert all(b.training == b.inner.training for b in blocks) and not all(b.training for b in blocks)
        inside = {stock_name(n, model): type(m) for n, m in model.named_modules() if m in wrapped}
        assert inside and all(dict(stock.named_modules())[n].__class__ is t for n, t in inside.items())
        for mode in ("train", "eval"):  # train mode also updates BatchNorm statistics inside the wrapper
            getattr(model, mode)(), getattr(stock, mode)()
            with torch.no_grad():
                assert all(torch.equal(a, b) for a, b in zip(flat(model(x)), flat(stock(x)), strict=True))
    model.model[10].eval(), stock.model[10].eval()
    assert [(n, m) for n, m, _ in attention_before] == [
        (n, m) for n, m in model.named_modules() if isinstance(m, (Attention, C2PSA))
    ]  # the same objects under the same names
    types = lambda net: {n: type(m) for n, m in net.named_modules(remove_duplicate=False)}  # noqa: E731
    assert types(model) == types(stock)
    assert not any(type(m).__module__.startswith("yolo_prune") for m in model.modules())
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), stock.state_dict().values()))


def test_wrapped_attention_refuses_training():
    """Gradients never reach a wrapped attention: training it must fail, not silently freeze it."""
    model = trained_like("yolo11n.yaml").train()
    with form(model):
        loss = sum(t.sum() for t in flat(model(image())))
        with pytest.raises(RuntimeError, match="unwrap it before training"):
            loss.backward()


@pytest.mark.parametrize("source", FAMILIES)
def test_groups_build_in_seconds(source):
    """Unwrapped, get_all_groups does not finish in 120 s on these models (Torch-Pruning 1.6.1)."""
    model = trained_like(source)
    with form(model):
        start = time.perf_counter()
        graph = tp.DependencyGraph().build_dependency(
            model, example_inputs=torch.zeros(1, 3, IMGSZ, IMGSZ), customized_pruners=CUSTOMIZED_PRUNERS
        )
        groups = prunable_groups(graph, fixed(model))
        seconds = time.perf_counter() - start
        inside = {m for b in model.modules() if isinstance(b, OpaqueBlock) for m in b.inner.modules()}
        cut = {dep.target.module for group in groups for dep, _ in group}
    assert seconds < 30, f"{seconds:.1f} s"
    assert len(groups) > 50
    assert not cut & inside


def test_unignored_attention_is_refused():
    """Without the attention's part among the fixed modules the pruner would cut the channels around the attention and
    break it."""
    model = trained_like("yolo11n.yaml")
    with pytest.raises(RuntimeError, match="fixed width"), form(model):  # the cut's own error, not the fold's after it
        head_only = ModelAdapter.of(model, "model").task.fixed_outputs(model, True)
        pruner = tp.pruner.GroupNormPruner(
            model, torch.zeros(1, 3, IMGSZ, IMGSZ), importance=tp.importance.GroupMagnitudeImportance(p=2),
            pruning_ratio=0.5, ignored_layers=head_only, customized_pruners=CUSTOMIZED_PRUNERS,
        )  # fmt: skip
        pruner.step()


@pytest.mark.parametrize("source", FAMILIES)
def test_prune_half_keeps_attention_and_shrinks_the_rest(source):
    model = trained_like(source)
    base = copy.deepcopy(model)
    base_macs, base_params = count_macs_params(base, IMGSZ)
    attention = {n for n, m in base.named_modules() if isinstance(m, Attention)}
    attention_sd = {k: v for k, v in base.state_dict().items() if any(k.startswith(a + ".") for a in attention)}

    prune_half(model)

    assert not any(type(m).__module__.startswith("yolo_prune") for m in model.modules())
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
        if isinstance(block, C3k2):  # folded back to a stock C3k2 (its chunk needs equal halves)
            assert block.cv1.conv.out_channels == 2 * block.c
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
    model = trained_like("yolo26n.yaml")
    head = model.model[-1]
    with form(model):
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
