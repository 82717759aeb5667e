"""Pipeline overhead: what the pruning machinery costs next to the fine-tuning it sits between.

For YOLOv8n/s/m built from yaml, each operation runs in a fresh process and reports its wall time and the peak
resident memory it added (peak RSS during the operation minus RSS before it, an upper bound): the C2f_v2 swap,
building Torch-Pruning's dependency graph, one pruning step (graph included), one MACs count, and one fine-tuning
epoch (training only, timed by Ultralytics' epoch callbacks) of the pruned model on the demo data set.

Usage:
    python benchmarks/overhead.py --data datasets/generated/demo/yolo/data.yaml --imgsz 128 --models n s m

Prints a Markdown table and writes it, with the raw numbers, to benchmarks/results/overhead.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import training_options, write_results

OPS = ("swap", "graph", "prune_step", "macs", "finetune_epoch")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(op: str, model_name: str, imgsz: int, data: str, batch: int) -> dict:
    import torch

    import yolo_prune  # noqa: F401
    from yolo_prune.checkpoint import load_detector
    from yolo_prune.evaluation import count_macs_params, layer_widths
    from yolo_prune.methods import make_method
    from yolo_prune.settings import resolve_settings
    from yolo_prune.structure import ModelAdapter

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    model = load_detector(f"yolov8{model_name}.yaml", nc=3)
    adapter = ModelAdapter.of(model, "model")
    method = make_method(resolve_settings(overrides={"target_prune_rate": 0.5}), adapter)
    base = layer_widths(model)
    if op in ("macs", "finetune_epoch"):
        method.prune(model, 1, 16, base, imgsz)
    for p in model.parameters():
        p.requires_grad_(True)
    rss = _rss_mb()
    start = time.perf_counter()
    if op == "swap":  # into the prunable form and back to stock, as every pruning step does
        with adapter.prunable_form(model):
            pass
    elif op == "graph":
        with adapter.prunable_form(model):
            method.graph(model, imgsz)
    elif op == "prune_step":
        method.prune(model, 1, 16, base, imgsz)
    elif op == "macs":
        count_macs_params(model, imgsz)
    else:
        return {**_epoch(model, data, imgsz, batch), "rss_before_mb": rss}
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "rss_before_mb": rss, "added_peak_mb": max(peak - rss, 0.0)}


def _epoch(model, data: str, imgsz: int, batch: int) -> dict:
    from yolo_prune.training import finetune

    times: dict[str, float] = {}
    callbacks = {
        "on_train_epoch_start": lambda t: times.setdefault("start", time.perf_counter()),
        "on_train_epoch_end": lambda t: times.setdefault("end", time.perf_counter()),
    }
    with tempfile.TemporaryDirectory() as tmp:
        args = dict(epochs=1, imgsz=imgsz, batch=batch, workers=0, device="cpu", plots=False, verbose=False)
        rss = _rss_mb()
        finetune(model, data, args, Path(tmp) / "ft", callbacks=callbacks)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": times["end"] - times["start"], "added_peak_mb": max(peak - rss, 0.0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the demo data set's data.yaml")
    training_options(ap, table=False)
    ap.add_argument("--models", nargs="+", default=["n", "s", "m"])
    ap.add_argument("--worker", nargs=2, metavar=("OP", "MODEL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.imgsz, args.data, args.batch)))
        return
    results = {}
    for name in args.models:
        for op in OPS:
            cmd = [sys.executable, __file__, "--data", args.data, "--imgsz", str(args.imgsz), "--batch",
                   str(args.batch), "--worker", op, name]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results[f"{name}/{op}"] = json.loads(out.stdout.strip().splitlines()[-1])
            print(name, op, results[f"{name}/{op}"], file=sys.stderr, flush=True)
    lines = [
        f"Pruning machinery vs one fine-tuning epoch, imgsz {args.imgsz}, batch {args.batch}, CPU "
        f"({len(os.sched_getaffinity(0))} cores); time in s, added peak memory in MB",
        "",
        "| model | C2f_v2 swap | dependency graph | one pruning step | MACs count | machinery total | fine-tune epoch | machinery / epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in args.models:
        r = {op: results[f"{name}/{op}"] for op in OPS}
        machinery = r["swap"]["seconds"] + r["prune_step"]["seconds"] + r["macs"]["seconds"]
        cells = [f"{r[op]['seconds']:.2f} s / {r[op]['added_peak_mb']:.0f} MB" for op in OPS[:4]]
        lines.append(
            f"| yolov8{name} | {' | '.join(cells)} | {machinery:.2f} s | {r['finetune_epoch']['seconds']:.1f} s / "
            f"{r['finetune_epoch']['added_peak_mb']:.0f} MB | {machinery / r['finetune_epoch']['seconds']:.1%} |"
        )
    lines.append("")
    lines.append("machinery total = swap + one pruning step (which builds its own graph) + one MACs count.")
    write_results("overhead", "\n".join(lines), results)


if __name__ == "__main__":
    main()
