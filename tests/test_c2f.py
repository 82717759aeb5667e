"""C2f -> C2f_v2 -> stock C2f (the C2f parts' way into and out of the prunable form) must not change what the model
computes, even with trained, non-default BatchNorm settings, for YOLOv8's C2f and YOLO11/YOLO26's C3k2."""

import copy

import torch
import torch.nn as nn
from ultralytics.nn.modules import C2f

import pytest

from yolo_prune.checkpoint import load_detector
from yolo_prune.evaluation import layer_widths
from yolo_prune.structure import C2f_v2, split_widths, stock_name
from yolo_prune.structure.parts import enter, leave
from trained import trained_like


def replace_c2f(model: nn.Module) -> int:
    """The model in its prunable form; how many C2f-style blocks are split."""
    enter(model)
    return sum(isinstance(m, C2f_v2) for m in model.modules())


def fold_c2f(model: nn.Module) -> int:
    """The model in its stock form again; how many split blocks were folded."""
    n = sum(isinstance(m, C2f_v2) for m in model.modules())
    leave(model)
    return n


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


@pytest.mark.parametrize("cfg", ["yolov8n.yaml", "yolo11n.yaml", "yolo26n.yaml"])
def test_fold_gives_back_the_stock_blocks_exactly(cfg):
    base = trained_like(load_detector(cfg, nc=3)).eval()
    model = copy.deepcopy(base)
    stock_types = [type(m) for m in model.modules() if isinstance(m, C2f)]
    assert replace_c2f(model) == len(stock_types) > 0
    assert fold_c2f(model) == len(stock_types)
    assert [type(m) for m in model.modules() if isinstance(m, C2f)] == stock_types  # C3k2 stays C3k2
    assert not any(isinstance(m, C2f_v2) for m in model.modules())
    have, want = model.state_dict(), base.state_dict()
    assert list(have) == list(want) and all(torch.equal(have[k], want[k]) for k in want)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = base(x), model(x)
    a, b = (a[0], b[0]) if isinstance(a, (tuple, list)) else (a, b)
    assert (a - b).abs().max().item() == 0.0
    for stock in (m for m in model.modules() if isinstance(m, C2f)):
        assert stock.c == stock.cv1.conv.out_channels // 2


def test_a_pruned_block_folds_with_c_set_for_chunk_and_split():
    """Halves pruned to one width fold into a C2f whose forward (chunk) and forward_split (the exporter's) agree."""
    model = trained_like(load_detector("yolov8n.yaml", nc=3)).eval()
    replace_c2f(model)
    block = model.model[2]
    keep = torch.tensor([0, 3, 5, 6])
    for half in (block.cv0, block.cv1):
        half.conv.weight.data = half.conv.weight.data[keep]
        for t in ("weight", "bias", "running_mean", "running_var"):
            setattr(half.bn, t, type(getattr(half.bn, t))(getattr(half.bn, t).data[keep]))
        half.conv.out_channels = half.bn.num_features = len(keep)
    for b in block.m:  # the bottleneck reads the second half
        b.cv1.conv.weight.data = b.cv1.conv.weight.data[:, keep]
        b.cv1.conv.in_channels = len(keep)
        b.cv2.conv.weight.data = b.cv2.conv.weight.data[keep]
        for t in ("weight", "bias", "running_mean", "running_var"):
            setattr(b.cv2.bn, t, type(getattr(b.cv2.bn, t))(getattr(b.cv2.bn, t).data[keep]))
        b.cv2.conv.out_channels = b.cv2.bn.num_features = len(keep)
    idx = torch.cat([keep, keep + 8, keep + 16][: 2 + len(block.m)])
    block.cv2.conv.weight.data = block.cv2.conv.weight.data[:, idx]
    block.cv2.conv.in_channels = len(idx)
    x = torch.rand(1, 32, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = block(x)
        fold_c2f(model)
        folded = model.model[2]
        assert type(folded) is C2f and folded.c == 4
        assert (folded(x) - expected).abs().max() <= 1e-5
        assert (folded.forward_split(x) - expected).abs().max() <= 1e-5


def test_uneven_halves_are_refused_rather_than_folded_wrong():
    model = load_detector("yolov8n.yaml", nc=3)
    replace_c2f(model)
    half = model.model[2].cv0
    half.conv.weight.data = half.conv.weight.data[:4]
    half.conv.out_channels = 4
    with pytest.raises(ValueError, match="halves differ"):
        fold_c2f(model)


def test_names_and_widths_map_between_the_forms():
    model = load_detector("yolov8n.yaml", nc=3)
    stock = layer_widths(model)
    replace_c2f(model)
    assert stock_name("model.2.cv0.conv", model) == stock_name("model.2.cv1.conv", model) == "model.2.cv1.conv"
    assert stock_name("model.2.m.0.cv1.conv", model) == "model.2.m.0.cv1.conv"
    split = split_widths(model, stock)
    assert split["model.2.cv0.conv"] == split["model.2.cv1.conv"] == stock["model.2.cv1.conv"] // 2
    assert split["model.2.cv2.conv"] == stock["model.2.cv2.conv"]


def test_checkpoints_of_yolo_prune_0_1_load_as_stock_models(tmp_path, monkeypatch):
    """yolo-prune 0.1 pickled its C2f_v2 blocks (without the stock class they came from) into checkpoints, under
    ``yolo_prune.surgery``: they load as stock C2f models that compute the same."""
    model = trained_like(load_detector("yolov8n.yaml", nc=3)).eval()
    replace_c2f(model)
    for block in (m for m in model.modules() if isinstance(m, C2f_v2)):
        del block.stock_cls, block.stock_attrs  # what 0.1's C2f_v2 did not have
    with monkeypatch.context() as patch:  # pickled by the class path 0.1 used
        patch.setattr(C2f_v2, "__module__", "yolo_prune.surgery")
        torch.save({"model": model, "train_args": {}}, tmp_path / "old.pt")
    assert _pickled_path(tmp_path / "old.pt")
    loaded = load_detector(tmp_path / "old.pt")
    assert not any(isinstance(m, C2f_v2) for m in loaded.modules())
    assert sum(type(m) is C2f for m in loaded.modules()) == 8
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert (loaded(x)[0] - model(x)[0]).abs().max().item() == 0.0


def _pickled_path(path) -> bool:
    """Whether the pickle inside a torch checkpoint (a zip) names ``yolo_prune.surgery``."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        return any(b"yolo_prune.surgery" in z.read(n) for n in z.namelist() if n.endswith(".pkl"))
