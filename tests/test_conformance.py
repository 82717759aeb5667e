"""The conformance matrix: every supported family x task x every method, at tiny size and without training.

What each row must hold, from the model's structure (``yolo_prune.structure``) alone: the prunable form is exact (the
same outputs in and out of it, eval mode); Torch-Pruning's dependency graph builds in seconds; a 0.5 cut keeps the
width of every output its task fixes, rebuilds exactly from the yaml it writes, and exports to ONNX with outputs equal
to PyTorch's; the copies the speed target times (cut without Torch-Pruning's pruner, written into an exported graph)
are the ONNX model a real export gives; a width search's subnet, as its supernet trains it (other channels' outputs
zeroed), computes what the cut model computes; and each method's up-front check finishes in bounded time (the speed
target's check looped in Torch-Pruning's tracer on YOLO11 and YOLO26 until the prunable form became one).

A new family, task, layer type or method is a new row here: add it to FAMILIES, TASK_SUFFIXES or METHODS.
"""

from __future__ import annotations

import contextlib
import copy
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn
import torch_pruning as tp

import yolo_prune
from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.evaluation import layer_widths
from yolo_prune.export import ONNX_TOLERANCE, compare_with_torch, export_like, export_model, export_onnx
from yolo_prune.methods import METHODS, make_method
from yolo_prune.methods.base import prunable_groups
from yolo_prune.methods.latency import cut_copy, onnx_outputs, output_change
from yolo_prune.methods.supernet import SubnetMasks, channel_ranks, subnet_masks
from yolo_prune.settings import resolve_settings
from yolo_prune.structure import FAMILIES, ModelAdapter
from yolo_prune.structure.model_yaml import stock_yaml
from trained import trained_like as trained

IMGSZ = 64
TASK_SUFFIXES = ["", "-seg", "-pose", "-obb", "-cls"]  # detection, then each task's bundled yaml of every family
SOURCES = [y.replace(".yaml", f"{t}.yaml") for t in TASK_SUFFIXES for y in FAMILIES.values()]  # yolov8n-seg.yaml...
# s scale: each task once, the families in turn (yolov8s.yaml, yolo11s-seg.yaml, yolo26s-pose.yaml, ...)
S_SOURCES = [list(FAMILIES.values())[i % len(FAMILIES)].replace("n.yaml", f"s{t}.yaml")
             for i, t in enumerate(TASK_SUFFIXES)]  # fmt: skip
CUTTING = ["depgraph", "slim"]  # methods whose cut needs no run: the speed target's cut is timed (see below)
CHECK_SECONDS = 60  # each method's up-front check; the YOLO11/YOLO26 hang never finished in 240 s
SETTINGS = {
    "depgraph": {"target_prune_rate": 0.5},
    "slim": {"method": "slim", "target_prune_rate": 0.5},
    "latency": {"target_speedup": 1.2, "latency_runs": 3, "latency_warmup": 1, "latency_threads": 1},
    "search": {"target_speedup": [1.1, 1.2], "latency_runs": 3, "latency_warmup": 1, "latency_threads": 1},
    "finetune": {"method": "finetune"},
}


def test_the_matrix_covers_every_method():
    assert set(SETTINGS) == set(METHODS)


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail the test with TimeoutError after ``seconds`` instead of hanging (SIGALRM interrupts Python loops)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"did not finish in {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def trained_like(source: str) -> nn.Module:
    return trained(load_detector(source, nc=3)).eval()


def outputs(model: nn.Module) -> list[torch.Tensor]:
    x = torch.rand(2, 3, IMGSZ, IMGSZ, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return tp.utils.flatten_as_list(model.eval()(x))


def settings_of(method: str) -> dict:
    return resolve_settings(overrides={"imgsz": IMGSZ, **SETTINGS[method]})


@pytest.mark.parametrize("source", SOURCES)
def test_the_prunable_form_is_exact(source):
    model = trained_like(source)
    stock, before = copy.deepcopy(model), outputs(model)
    adapter = ModelAdapter.of(model, source)
    with adapter.prunable_form(model):
        inside = outputs(model)
        assert any(type(m).__module__.startswith("yolo_prune") for m in model.modules())
    after = outputs(model)
    assert all(torch.equal(a, b) for a, b in zip(before, inside, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert not any(type(m).__module__.startswith("yolo_prune") for m in model.modules())
    have, want = model.state_dict(), stock.state_dict()
    assert list(have) == list(want) and all(torch.equal(have[k], want[k]) for k in want)


@pytest.mark.parametrize("source", SOURCES)
def test_the_dependency_graph_builds_in_seconds(source):
    model = trained_like(source)
    adapter = ModelAdapter.of(model, source)
    method = make_method(settings_of("depgraph"), adapter)
    start = time.perf_counter()
    with deadline(CHECK_SECONDS), adapter.prunable_form(model):
        graph, ignored, _ = method.graph(model, IMGSZ)
        groups = prunable_groups(graph, ignored)
    assert time.perf_counter() - start < 30
    assert len(groups) > 20


@pytest.fixture(scope="module")
def cut(tmp_path_factory):
    """Each family cut at 0.5 by each method that cuts without a run, saved as runs save it (cached per row)."""
    done: dict[tuple[str, str], tuple[nn.Module, nn.Module, object]] = {}

    def make(source: str, method: str):
        if (source, method) not in done:
            base = trained_like(source)
            model = copy.deepcopy(base)
            adapter = ModelAdapter.of(model, source)
            make_method(settings_of(method), adapter).prune(model, 1, 1, layer_widths(model), IMGSZ)
            pt = save_checkpoint(tmp_path_factory.mktemp("cut") / "cut.pt", model, {"imgsz": IMGSZ})
            done[source, method] = base, model, pt
        return done[source, method]

    return make


@pytest.mark.parametrize("method", CUTTING)
@pytest.mark.parametrize("source", SOURCES)
def test_a_half_cut_keeps_the_fixed_outputs_and_rebuilds_from_its_yaml(source, method, cut):
    base, model, _ = cut(source, method)
    adapter = ModelAdapter.of(model, source)
    assert adapter.fixed_conv_names(model) == adapter.fixed_conv_names(base)
    fixed = adapter.fixed_conv_names(model)
    assert fixed and all(layer_widths(model)[n] == layer_widths(base)[n] for n in fixed)
    assert sum(layer_widths(model).values()) < 0.8 * sum(layer_widths(base).values())
    assert stock_yaml(model)[1] is None  # the yaml it writes rebuilds it exactly (same tensors, same outputs)


@pytest.mark.parametrize("source", S_SOURCES)
def test_s_scale_cuts_rebuild_from_their_yaml_and_export_as_pytorch_computes(source, cut):
    """The n-scale rows at s scale (each task once): wider layers, other derived widths (e.g. C3k2's c3k blocks)."""
    base, model, pt = cut(source, "depgraph")
    adapter = ModelAdapter.of(model, source)
    assert all(layer_widths(model)[n] == layer_widths(base)[n] for n in adapter.fixed_conv_names(model))
    assert sum(layer_widths(model).values()) < 0.8 * sum(layer_widths(base).values())
    assert stock_yaml(model)[1] is None
    assert compare_with_torch(pt, export_onnx(pt, IMGSZ), IMGSZ) < ONNX_TOLERANCE


@pytest.mark.parametrize("source", [s for s in SOURCES if s.endswith("-seg.yaml")])
def test_the_prototypes_inner_width_is_cut_as_one_and_written_to_the_yaml(source, cut):
    """YOLOv8/YOLO11's prototype: first conv, transposed-conv upsample and second conv at one width, cut with the
    neck and stated as the head's ``npr``; its output (one channel per mask) keeps its width. YOLO26's stays whole
    (its training-only semantic branch is built at ``npr``)."""
    base, model, _ = cut(source, "depgraph")
    head = len(model.model) - 1
    inner = [f"model.{head}.proto.{n}" for n in ("cv1.conv", "upsample", "cv2.conv")]
    before, after = layer_widths(base), layer_widths(model)
    assert after[f"model.{head}.proto.cv3.conv"] == before[f"model.{head}.proto.cv3.conv"] == model.model[-1].nm
    if source.startswith("yolo26"):
        assert all(after[n] == before[n] for n in after if ".proto." in n)
        return
    assert len({after[n] for n in inner}) == 1 and after[inner[0]] < before[inner[0]]
    assert stock_yaml(model)[0]["head"][-1][3][2] == after[inner[0]]


@pytest.mark.parametrize("method", CUTTING)
@pytest.mark.parametrize("source", SOURCES)
def test_a_half_cut_exports_to_onnx_as_pytorch_computes_it(source, method, cut):
    _, _, pt = cut(source, method)
    onnx = export_onnx(pt, IMGSZ)
    assert compare_with_torch(pt, onnx, IMGSZ) < ONNX_TOLERANCE


@pytest.mark.parametrize("source", SOURCES)
def test_the_speed_targets_timed_copies_are_what_an_export_gives(source, tmp_path):
    """The latency method cuts copies with Torch-Pruning's groups and writes them into an exported graph without
    tracing: with attention folded back, that file must compute what a real export of the copy computes."""
    model = trained_like(source)
    adapter = ModelAdapter.of(model, source)
    method = make_method(settings_of("latency"), adapter)
    with adapter.prunable_form(model):
        graph, ignored, _ = method.graph(model, IMGSZ)
        groups = prunable_groups(graph, ignored)
        rules = method.width_rules(model, groups)
        widths = rules.apply({c: max(1, c.out_channels // 2) for c in rules.current})
        narrow = cut_copy(model, graph, widths)
        template = export_model(cut_copy(model, graph, {}), tmp_path / "base.onnx", IMGSZ)
    assert not any(type(m).__module__.startswith("yolo_prune") for m in narrow.modules())
    like = export_like(template, narrow, tmp_path / "like.onnx")
    exported = export_model(narrow, tmp_path / "exported.onnx", IMGSZ)
    x = np.random.default_rng(0).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)
    got, want = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"images": x})
                 for p in (like, exported))  # fmt: skip
    assert len(got) == len(want)  # every output: segmentation's prototypes (a transposed conv's rewrite) too
    for g, w in zip(got, want):
        assert np.abs(g - w).max() <= 1e-4 * np.abs(w).max()


@contextlib.contextmanager
def random_subnet(source: str, seed: int) -> Iterator[tuple]:
    """``source`` trained-like, in its prunable form for the block, with what a width search knows of it: the
    search's method, its graph, ignored layers and example input, each conv's ranked channels and group roots, the
    roots' cut order (least important first) and random widths through the width rules."""
    model = trained_like(source)
    adapter = ModelAdapter.of(model, source)
    method = make_method(settings_of("search"), adapter)
    with adapter.prunable_form(model):
        graph, ignored, example = method.graph(model, IMGSZ)
        groups = prunable_groups(graph, ignored)
        rules = method.width_rules(model, groups)
        ranks, roots = channel_ranks(model, graph, groups, tp.importance.GroupMagnitudeImportance(p=2))
        modules = dict(model.named_modules())
        order = {modules[n]: torch.tensor(ranks[n][::-1]) for n in set(roots.values())}
        gen = torch.Generator().manual_seed(seed)
        widths = rules.apply({c: max(1, int(c.out_channels * float(torch.rand(1, generator=gen))))
                              for c in rules.current})  # fmt: skip
        assert any(w < c.out_channels for c, w in widths.items())
        yield model, method, graph, ignored, example, rules, ranks, roots, order, widths


@pytest.mark.parametrize("source", SOURCES)
def test_a_supernets_subnet_computes_what_the_cut_model_computes(source):
    """The width search trains a subnet as the whole model with the other channels' outputs zeroed (forward hooks on
    the stock model): in eval mode that is the cut model's function, for random widths, depthwise convs, split C2f
    blocks and segmentation's prototypes included."""
    with random_subnet(source, 1) as (model, _, graph, _, _, rules, ranks, roots, order, widths):
        spec = subnet_masks(model, ranks, roots, [rules.apply({}), widths])
        cut = cut_copy(model, graph, widths, order)
    masks = SubnetMasks(model, spec, torch.device("cpu"))
    masks.use(1)
    masked = outputs(model)
    masks.remove()
    expected = outputs(cut)
    same = [(a, b) for a, b in zip(masked, expected) if a.shape == b.shape]  # the neck's features differ in width
    assert same and same[0][0] is masked[0]  # the predictions at least
    for a, b in same:
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4), (a - b).abs().max()


@pytest.mark.parametrize("source", SOURCES)
def test_the_real_cut_of_a_searched_subnet_is_the_subnet_the_search_scored(source):
    """The search scores a subnet cut without Torch-Pruning's pruner (``cut_copy``, its ranking); the step cuts with
    the pruner and ``FixedRanking``: the two must remove the same channels, whichever layer the pruner's graph roots
    a group at."""
    from yolo_prune.methods.search import FixedRanking, channel_scores
    from yolo_prune.structure import CUSTOMIZED_PRUNERS

    with random_subnet(source, 2) as (model, method, graph, ignored, example, _, ranks, _, order, widths):
        scored = cut_copy(model, graph, widths, order)
        ratios = {c: 1 - (keep + 0.5) / c.out_channels for c, keep in widths.items() if keep < c.out_channels}
        modules = dict(model.named_modules())
        ranking = FixedRanking({modules[n]: channel_scores(r) for n, r in ranks.items()})
        method.pruner_cls(model, example, importance=ranking, pruning_ratio=0.0, pruning_ratio_dict=ratios,
                          ignored_layers=ignored, customized_pruners=CUSTOMIZED_PRUNERS).step()
    assert layer_widths(model) == layer_widths(scored)
    for a, b in zip(outputs(model), outputs(scored)):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4), (a - b).abs().max()


def test_the_speed_target_sees_a_cut_of_the_prototypes(tmp_path):
    """Halving YOLOv8-seg's prototype (its three inner layers at one width) moves no box, score or mask coefficient,
    only the masks: the change the speed target ranks layers by must see it, or the prototype would look free."""
    source = "yolov8n-seg.yaml"
    model = trained_like(source)
    adapter = ModelAdapter.of(model, source)
    method = make_method(settings_of("latency"), adapter)
    with adapter.prunable_form(model):
        graph, ignored, _ = method.graph(model, IMGSZ)
        rules = method.width_rules(model, prunable_groups(graph, ignored))
        proto = model.model[-1].proto
        inner = (proto.cv1.conv, proto.upsample, proto.cv2.conv)
        widths = rules.apply({c: c.out_channels // 2 for c in inner})
        assert len({widths[c] for c in inner}) == 1 and widths[proto.upsample] < proto.upsample.out_channels
        template = export_model(cut_copy(model, graph, {}), tmp_path / "base.onnx", IMGSZ)
        cut = export_like(template, cut_copy(model, graph, widths), tmp_path / "cut.onnx")
        images = [np.random.default_rng(0).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)]
        reference, outputs = onnx_outputs(template, images), onnx_outputs(cut, images)
        assert np.array_equal(reference[0][0], outputs[0][0]) and not np.allclose(reference[0][1], outputs[0][1])
        assert output_change(reference, outputs, IMGSZ, adapter.task, model) > 0.01


@pytest.mark.parametrize("method", list(SETTINGS))
@pytest.mark.parametrize("source", SOURCES)
def test_each_methods_up_front_check_finishes(source, method):
    model = trained_like(source)
    before = layer_widths(model)
    with deadline(CHECK_SECONDS):
        files = make_method(settings_of(method), ModelAdapter.of(model, source)).check(model)
    assert isinstance(files, dict) and layer_widths(model) == before
    assert not any(type(m).__module__.startswith("yolo_prune") for m in model.modules())
    if method == "latency":
        state = files["speed_target.json"]
        assert state["floor_ms"] < state["base_ms"]  # the floor was timed against the base


@pytest.mark.parametrize("source", SOURCES)
def test_fine_tuning_only_cuts_nothing(source):
    model = trained_like(source)
    before = layer_widths(model)
    rate = make_method(settings_of("finetune"), ModelAdapter.of(model, source)).prune(model, 1, 1, before, IMGSZ)
    assert rate == 0.0 and layer_widths(model) == before


# Names that tie code to detection: Ultralytics' detection classes and data check, its box metric keys, the "detect"
# task name, and reading the head off the model's last layer.
DETECTION = re.compile(
    r"DetectionModel|DetectionTrainer|DetectionValidator|check_det_dataset|mAP50(-95)?\(B\)|\bDetect\b|"
    r"[\"']detect[\"']|model\[-1\]|layers\[-1\]"
)
LAYOUT_LIMIT = 600  # lines: the "no module over about 600 lines"


def package_sources() -> dict[str, str]:
    root = Path(yolo_prune.__file__).parent
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.py"))}


def test_detection_is_named_only_in_its_task_module():
    """Detection lives in ``structure/tasks/detect.py`` (and the head is read off the model only by the tasks
    package); every other module asks the model's task. ``demo/``, the demo's and benchmarks' data generators, is no
    part of the engine."""
    found = {
        f"{path}:{n}": line.strip()
        for path, text in package_sources().items()
        if not path.startswith(("structure/tasks/", "demo/"))
        for n, line in enumerate(text.splitlines(), 1)
        if DETECTION.search(line.split("#")[0])
    }
    assert found == {}


def test_no_module_is_over_the_size_limit():
    sizes = {path: text.count("\n") for path, text in package_sources().items()}
    assert max(sizes.values()) <= LAYOUT_LIMIT, {p: n for p, n in sizes.items() if n > LAYOUT_LIMIT}
