"""Pruning for a measured speed-up against uniform pruning and network slimming at the same measured latency, with
the same fine-tuning budget, on the demo's data set.

For each model: the base model is trained by the demo's recipe (cached, ``yolo_prune.demo.base_model``); the latency
method prunes it for ``--target`` (``--steps`` steps of ``--epochs`` fine-tuning epochs); DepGraph then prunes it at
the rate whose architecture measures the speed-up the latency run reached (rates timed on a grid, untrained: latency
depends on the architecture), with the same steps and epochs; slimming sparse-trains it for half the budget, then
prunes it at the rate whose architecture (its widths follow the trained |gamma|) measures that speed-up and
fine-tunes for the other half. At the end the three final models and the base are timed together, interleaved, so
that the speed-ups in the table come from one measurement. Every timing is ONNX Runtime on the CPU with one thread,
timed by its CPU time (``--latency-threads 1``): steady on a machine shared with other work.

Usage:
    python benchmarks/speed_target.py --data datasets/generated/shapes-400x128-3cls-seed0/yolo/data.yaml \\
        --models yolov8n yolov8s --target 2 --steps 4 --epochs 2 --imgsz 128
    python benchmarks/speed_target.py --table   # rebuild the table from the results written so far
    python benchmarks/speed_target.py --data ... --models yolov8n --provider openvino --no-slim --base best.pt

``--provider`` meets the target and times everything on another runtime (its results go to
results/speed_target_<provider><tag>/ and speed_target_<provider><tag>.md); ``--base`` prunes a given checkpoint of the first
model instead of training one; ``--no-slim`` leaves slimming out.

Each model's results go to benchmarks/results/speed_target/<model>.json as soon as its runs are done (with the latency
run's speed_target.json and latency_table.json beside it); the table to benchmarks/results/speed_target.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch.nn as nn
from common import WidthVariant, cores, pruned_model, save_table, slimmed, sparse_checkpoint, training_options

import yolo_prune  # noqa: F401  (offline settings before Ultralytics)
from yolo_prune import prune
from yolo_prune.checks import check_data
from yolo_prune.demo.base_model import train_base_model
from yolo_prune.export import export_like
from yolo_prune.latency import measure_interleaved
from yolo_prune.settings import resolve_settings
from yolo_prune.structure import TASKS

TIMING = {"latency_threads": 1}
GRID = [round(r, 2) for r in np.arange(0.10, 0.86, 0.05)]


def results_dir(provider: str, tag: str = "") -> Path:
    name = "speed_target" if provider == "cpu" else f"speed_target_{provider}"
    return Path(__file__).parent / "results" / (name + tag)


def equal_latency_rate(base_onnx: Path, nets: dict[float, nn.Module], speedup: float, runs: int,
                       tmp: Path, provider: str) -> tuple[float, dict]:  # fmt: skip
    """The rate whose architecture runs ``speedup`` times faster than the base: the candidates (one per rate) timed
    together with the base, and the speed-up interpolated between the two rates around it."""
    paths = [export_like(base_onnx, net, tmp / f"r{rate}.onnx") for rate, net in nets.items()]
    stats = measure_interleaved([base_onnx, *paths], runs=runs, threads=1, provider=provider)
    base_ms, *times = (s.median_ms for s in stats)
    curve = {rate: base_ms / ms for rate, ms in zip(nets, times)}
    rates = sorted(curve)
    for lo, hi in zip(rates, rates[1:]):
        if curve[lo] <= speedup <= curve[hi]:
            return lo + (hi - lo) * (speedup - curve[lo]) / (curve[hi] - curve[lo]), curve
    return (rates[0] if speedup < curve[rates[0]] else rates[-1]), curve


def outcome(result, method: str, epochs: int, started: float, **extra) -> dict:
    """What the table shows of a finished run."""
    s, rows = result.summary, result.steps
    return {
        "method": method, "macs": s["final"]["macs"], "params": s["final"]["params"], "macs_ratio": s["macs_ratio"],
        "map50_95": s["final"]["map50_95"], "map50": s["final"]["map50"], "onnx_map50_95": s["final"]["onnx_map50_95"],
        "own_speedup": s["speedup"], "epochs": epochs, "steps_run": sum(r["step"] > 0 for r in rows),
        "final_onnx": str(result.onnx), "minutes": (time.time() - started) / 60, **extra,
    }  # fmt: skip


def run_model(name: str, args: argparse.Namespace, project: Path, cfg: Path) -> dict:
    nc = check_data(args.data, TASKS["detect"])["nc"]
    weights = Path(args.base) if args.base else train_base_model(
        args.data, cache_dir=args.cache_dir, model=f"{name}.yaml", imgsz=args.imgsz, batch=args.batch).weights
    common = dict(data=args.data, cfg=str(cfg), imgsz=args.imgsz, batch=args.batch, workers=0, device="cpu",
                  seed=args.seed, max_map_drop=1.0, latency_runs=args.runs, verbose=False, project=str(project),
                  latency_provider=args.provider, compare_runtimes=False, **TIMING)  # fmt: skip
    results = results_dir(args.provider, args.tag)
    budget = args.steps * args.epochs
    rows = {}

    started = time.time()
    tag = f"{name}-seed{args.seed}"
    lat = prune(model=str(weights), target_speedup=args.target, iterative_steps=args.steps, epochs=args.epochs,
                name=f"{tag}-latency", **common)  # fmt: skip
    epochs = lat.steps[-1]["step"] * args.epochs
    rows["latency"] = outcome(lat, "latency", epochs, started, target=args.target)
    reached = lat.summary["speedup"]
    for file in ("speed_target.json", "latency_table.json"):
        results.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lat.run_dir / file, results / f"{tag}_{file}")

    with tempfile.TemporaryDirectory() as tmp:
        base_onnx = lat.run_dir / "weights" / "base.onnx"
        nets = {r: pruned_model(f"{name}.yaml", nc, r, WidthVariant(8, True), args.imgsz) for r in GRID}
        rate, curve = equal_latency_rate(base_onnx, nets, reached, args.runs, Path(tmp), args.provider)
        started = time.time()
        dep = prune(model=str(weights), method="depgraph", target_prune_rate=rate, iterative_steps=args.steps,
                    epochs=args.epochs, name=f"{tag}-depgraph", **common)  # fmt: skip
        rows["depgraph"] = outcome(dep, "depgraph", budget, started, rate=rate, grid=curve)

        methods = ("latency", "depgraph") if args.no_slim else ("latency", "depgraph", "slim")
        started = time.time()
        settings = None if args.no_slim else resolve_settings(cfg, {"method": "slim", "sparse_epochs": budget // 2, "sr": args.sr,
                                          "imgsz": args.imgsz, "batch": args.batch, "workers": 0, "device": "cpu",
                                          "seed": args.seed, "verbose": False})  # fmt: skip
        if settings is not None:
            sparse_pt = sparse_checkpoint(weights, args.data, settings, project / f"{tag}-sparse")
            nets = {r: slimmed(sparse_pt, r, args.imgsz) for r in GRID}
            rate, curve = equal_latency_rate(base_onnx, nets, reached, args.runs, Path(tmp), args.provider)
            slim_run = prune(model=str(sparse_pt), method="slim", sparse_epochs=0, target_prune_rate=rate,
                             iterative_steps=1, epochs=budget - budget // 2, name=f"{tag}-slim", **common)  # fmt: skip
            rows["slim"] = outcome(slim_run, "slim", budget, started, rate=rate, grid=curve,
                                   sparse_epochs=budget // 2, sr=args.sr)  # fmt: skip

    # One measurement for all: the base and the three final models, interleaved.
    finals = [Path(rows[m]["final_onnx"]) for m in methods]
    stats = measure_interleaved([lat.run_dir / "weights" / "base.onnx", *finals], runs=args.runs * 2, threads=1,
                                provider=args.provider)  # fmt: skip
    for method, s in zip(methods, stats[1:]):
        rows[method].update(speedup=stats[0].median_ms / s.median_ms, ms=s.median_ms)
    base = lat.summary["base"]
    return {"model": name, "seed": args.seed, "provider": args.provider,
            "base": {"map50_95": base["map50_95"], "map50": base["map50"], "ms": stats[0].median_ms},
            "target": args.target, "steps": args.steps, "epochs_per_step": args.epochs, "imgsz": args.imgsz,
            "runs": args.runs * 2, "machine": f"{platform.processor() or platform.machine()}, {cores()} cores",
            "rows": rows}  # fmt: skip


def table(provider: str, tag: str = "") -> str:
    lines = [
        "| model | seed | method | widths | MACs | MACs ratio | params | speed-up (joint) | speed-up / MACs ratio "
        "| mAP50-95 | mAP50 | fine-tuning epochs |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(results_dir(provider, tag).glob("*.json")):
        if "_" in path.stem:  # a latency run's own files
            continue
        res = json.loads(path.read_text())
        head = f"| {res['model']} | {res['seed']} |"
        lines.append(f"{head} base | - | | 1.00x | | 1.00x ({res['base']['ms']:.2f} ms) | | "
                     f"{res['base']['map50_95']:.3f} | {res['base']['map50']:.3f} | - |")  # fmt: skip
        for method, r in res["rows"].items():
            widths = (f"target {r['target']:g}x, met in {r['steps_run']} step(s)" if method == "latency"
                      else f"rate {r['rate']:.3f}")  # fmt: skip
            lines.append(
                f"{head} {method} | {widths} | {r['macs'] / 1e6:.1f} M | {r['macs_ratio']:.2f}x | "
                f"{r['params'] / 1e6:.2f} M | {r['speedup']:.2f}x | {r['speedup'] / r['macs_ratio']:.2f} | "
                f"{r['map50_95']:.3f} | {r['map50']:.3f} | {r['epochs']} |"
            )
    return save_table(results_dir(provider, tag).name, lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="the demo's data.yaml")
    ap.add_argument("--models", nargs="+", default=["yolov8n", "yolov8s"])
    ap.add_argument("--target", type=float, default=2.0, help="speed-up the latency method prunes for")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs per step")
    ap.add_argument("--sr", type=float, default=0.005, help="slimming's L1 penalty")
    training_options(ap)
    ap.add_argument("--runs", type=int, default=50, help="timed runs per model and measurement")
    ap.add_argument("--seed", type=int, default=0, help="fine-tuning seed (the base model is the same)")
    ap.add_argument("--cache-dir", default=".cache/base-models")
    ap.add_argument("--project", default="runs/bench-speed", help="where the runs are kept")
    ap.add_argument("--provider", default="cpu", help="the runtime the target is met and timed on")
    ap.add_argument("--base", help="a checkpoint of the (first) model to prune instead of training one")
    ap.add_argument("--no-slim", action="store_true", help="leave network slimming out")
    ap.add_argument("--tag", default="", help="a suffix of the results' folder and table, e.g. _2x")
    args = ap.parse_args()
    if not args.table:
        project = Path(args.project).absolute()
        project.mkdir(parents=True, exist_ok=True)
        cfg = project / "finetune.yaml"  # the demo's fine-tuning settings: 2 epochs recover with them
        cfg.write_text("nbs: 16\nscale: 0.25\n")
        results_dir(args.provider, args.tag).mkdir(parents=True, exist_ok=True)
        for name in args.models:
            started = time.time()
            result = run_model(name, args, project, cfg)
            result["minutes"] = (time.time() - started) / 60
            (results_dir(args.provider, args.tag) / f"{name}-seed{args.seed}.json").write_text(json.dumps(result, indent=2) + "\n")
            print(json.dumps({k: v for k, v in result.items() if k != "rows"}), flush=True)
    print(table(args.provider, args.tag))


if __name__ == "__main__":
    main()
