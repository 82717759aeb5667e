"""YOLO11 and YOLO26 under Torch-Pruning with attention as one fixed unit (``yolo_prune.structure.attention``): how
long the dependency graph and its groups take to build, what share of the model stays fixed, and what a uniform DepGraph cut
at rate 0.5 leaves. YOLOv8 (no attention) is the reference.

Models are built from Ultralytics' bundled yaml (80 classes, random weights: group building and widths do not
depend on the weights). Times are wall-clock seconds of ``DependencyGraph.build_dependency`` plus
``get_all_groups`` (the JSON also has the first alone), repeated. Shares of MACs are of conv MACs at 640 px,
counted per layer with forward hooks; totals are the project's ``count_macs_params``.

Usage:
    python benchmarks/attention.py --models yolo11n yolo26n yolov8n --imgsz 64 320 640 --repeats 3 [--threads 1]

Writes benchmarks/results/attention.json (raw numbers) and attention.md (the table) and prints the table.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from importlib.metadata import version
from pathlib import Path

import torch
import torch.nn as nn
import torch_pruning as tp

import yolo_prune  # noqa: F401  (offline settings before Ultralytics)
from yolo_prune.checkpoint import load_detector
from yolo_prune.evaluation import count_macs_params
from yolo_prune.methods.base import prunable_groups
from yolo_prune.structure import CUSTOMIZED_PRUNERS, ModelAdapter, OpaqueBlock

RESULTS = Path(__file__).parent / "results"


def conv_macs(model: nn.Module, imgsz: int) -> dict[str, int]:
    """MACs of every conv, by module name, for one image of ``imgsz`` (eval mode)."""
    macs: dict[str, int] = {}
    names = {m: n for n, m in model.named_modules()}

    def hook(m: nn.Conv2d, _: tuple, out: torch.Tensor) -> None:
        kh, kw = m.kernel_size
        macs[names[m]] = out[0].numel() * (m.in_channels // m.groups) * kh * kw

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, imgsz, imgsz))
    for h in hooks:
        h.remove()
    return macs


def group_seconds(model: nn.Module, imgsz: int, adapter: ModelAdapter) -> tuple[float, float, int]:
    """Seconds to build the dependency graph of prunable-form ``model`` and to list its prunable groups, and the
    count."""
    model.eval()
    start = time.perf_counter()
    graph = tp.DependencyGraph().build_dependency(
        model, example_inputs=torch.zeros(1, 3, imgsz, imgsz), customized_pruners=CUSTOMIZED_PRUNERS
    )
    built = time.perf_counter()
    groups = prunable_groups(graph, adapter.fixed(model, True))
    return built - start, time.perf_counter() - built, len(groups)


def measure(name: str, sizes: list[int], repeats: int) -> dict:
    """Group-building times of one model, what of it stays fixed, and its MACs and params after a 0.5 cut."""
    model = load_detector(f"{name}.yaml", nc=80)
    adapter = ModelAdapter.of(model, name)
    with adapter.prunable_form(model):  # every measurement below is of the form the graph is built in
        return _measure_form(model, adapter, name, sizes, repeats)


def _measure_form(model: nn.Module, adapter: ModelAdapter, name: str, sizes: list[int], repeats: int) -> dict:
    for p in model.parameters():
        p.requires_grad_(True)
    times: dict[str, list[float]] = {str(s): [] for s in sizes}
    build: dict[str, list[float]] = {str(s): [] for s in sizes}
    n_groups = 0
    for _ in range(repeats):
        for s in sizes:
            b, g, n_groups = group_seconds(model, s, adapter)
            times[str(s)].append(round(b + g, 3))
            build[str(s)].append(round(b, 3))

    base = copy.deepcopy(model)
    base_macs, base_params = count_macs_params(base, 640)
    per_conv = conv_macs(base, 640)
    params = {n: p.numel() for n, p in base.named_parameters()}
    inside = [n for n, m in model.named_modules() if isinstance(m, OpaqueBlock)]
    pruner = tp.pruner.GroupNormPruner(
        model, torch.zeros(1, 3, 64, 64), importance=tp.importance.GroupMagnitudeImportance(p=2), pruning_ratio=0.5,
        ignored_layers=adapter.fixed(model, True), customized_pruners=CUSTOMIZED_PRUNERS,
    )  # fmt: skip
    pruner.step()
    macs, n_params = count_macs_params(model, 640)
    pruned = dict(model.named_parameters())
    untouched = [n for n in params if pruned[n].shape == base.get_parameter(n).shape]

    def share(values: dict[str, int], keys: list[str]) -> float:
        return sum(values[k] for k in keys) / sum(values.values())

    def under(prefixes: list[str], keys: list[str]) -> list[str]:
        return [k for k in keys if any(k.startswith(p + ".") for p in prefixes)]

    conv_untouched = [n for n in per_conv if pruned[n + ".weight"].shape == base.get_parameter(n + ".weight").shape]
    # Convs outside the attention that keep one side whole: the channels coupled to it (the head's prediction
    # convs, the stem's 3 input channels and depthwise convs, whose weights have no input side, aside).
    head_outputs = adapter.task.fixed_outputs(base, True)
    fixed_by_head = {n for n, m in base.named_modules() for layer in head_outputs if m is layer}
    one_side = [
        n for n, m in base.named_modules()
        if isinstance(m, nn.Conv2d) and m.groups == 1 and m.in_channels > 3 and n not in fixed_by_head
        and n not in conv_untouched
        and (pruned[n + ".weight"].shape[0] == m.out_channels or pruned[n + ".weight"].shape[1] == m.in_channels)
    ]  # fmt: skip
    return {
        "model": name,
        "group_seconds": times,
        "build_seconds": build,
        "groups": n_groups,
        "attention_params_share": share(params, under(inside, list(params))),
        "attention_macs_share": share(per_conv, under(inside, list(per_conv))),
        "untouched_params_share": share(params, untouched),
        "untouched_macs_share": share(per_conv, conv_untouched),
        "one_side_params_share": share(params, [k for k in params if k.rsplit(".", 1)[0] in one_side]),
        "one_side_macs_share": share(per_conv, one_side),
        "one_side_convs": one_side,
        "base_macs": base_macs,
        "base_params": base_params,
        "pruned_macs": macs,
        "pruned_params": n_params,
    }


def table(rows: list[dict]) -> str:
    sizes = list(rows[0]["group_seconds"])
    head = ["model", *(f"groups s @{s} (min-max)" for s in sizes), "groups", "attention params / MACs",
            "untouched at 0.5: params / MACs", "one side whole: params / MACs", "MACs 640 base -> 0.5",
            "params base -> 0.5"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        t = [f"{statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})" for v in r["group_seconds"].values()]
        lines.append("| " + " | ".join([
            r["model"], *t, str(r["groups"]),
            f"{100 * r['attention_params_share']:.1f} % / {100 * r['attention_macs_share']:.1f} %",
            f"{100 * r['untouched_params_share']:.1f} % / {100 * r['untouched_macs_share']:.1f} %",
            f"{100 * r['one_side_params_share']:.1f} % / {100 * r['one_side_macs_share']:.1f} %",
            f"{r['base_macs'] / 1e9:.2f}G -> {r['pruned_macs'] / 1e9:.2f}G "
            f"({100 * r['pruned_macs'] / r['base_macs']:.0f} %)",
            f"{r['base_params'] / 1e6:.2f}M -> {r['pruned_params'] / 1e6:.2f}M "
            f"({100 * r['pruned_params'] / r['base_params']:.0f} %)",
        ]) + " |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["yolov8n", "yolo11n", "yolo26n"])
    parser.add_argument("--imgsz", nargs="+", type=int, default=[64, 320, 640])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (on a shared machine 1 is steadiest)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.models:
        rows.append(measure(name, args.imgsz, args.repeats))
        print(table(rows[-1:]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"threads": args.threads, "torch": torch.__version__, "torch_pruning": version("torch-pruning")}
    (RESULTS / "attention.json").write_text(json.dumps({**meta, "rows": rows}, indent=1) + "\n")
    (RESULTS / "attention.md").write_text(table(rows))
    print(table(rows))


if __name__ == "__main__":
    main()
