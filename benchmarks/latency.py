"""Real speed: ONNX Runtime latency of base vs DepGraph-pruned YOLOv8 at several rates, with and without
``round_to``, next to the MACs ratio. Latency depends on the architecture, not on the weights, so the models are
built from Ultralytics' yaml and pruned without training.

Usage:
    python benchmarks/latency.py --imgsz 128 640 --rates 0.3 0.5 0.7 --round-to 1 8 --runs 100

Prints a Markdown table and writes it, with the raw numbers, to benchmarks/results/latency_<imgsz>.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

import yolo_prune  # noqa: F401  (offline settings before Ultralytics)
from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.evaluation import count_macs_params, layer_widths
from yolo_prune.export import export_onnx
from yolo_prune.latency import compare_latency
from yolo_prune.methods import make_method
from yolo_prune.settings import resolve_settings
from yolo_prune.surgery import replace_c2f

RESULTS = Path(__file__).parent / "results"


def pruned_onnx(folder: Path, model: str, rate: float, round_to: int, imgsz: int, steps: int) -> tuple[Path, int]:
    net = load_detector(model, nc=3)
    replace_c2f(net)
    if rate > 0:
        method = make_method(resolve_settings(overrides={"target_prune_rate": rate, "round_to": round_to}))
        base = layer_widths(net)
        for k in range(1, steps + 1):
            method.prune(net, k, steps, base, imgsz)
    pt = save_checkpoint(folder / f"r{rate}_t{round_to}.pt", net, {"imgsz": imgsz})
    return export_onnx(pt, imgsz), count_macs_params(net, imgsz)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="yolov8n.yaml")
    ap.add_argument("--imgsz", type=int, nargs="+", default=[128, 640])
    ap.add_argument("--rates", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    ap.add_argument("--round-to", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for imgsz in args.imgsz:
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            base_onnx, base_macs = pruned_onnx(Path(tmp), args.model, 0.0, 1, imgsz, args.steps)
            for rate in args.rates:
                for round_to in args.round_to:
                    onnx, macs = pruned_onnx(Path(tmp), args.model, rate, round_to, imgsz, args.steps)
                    lat = compare_latency(base_onnx, onnx, runs=args.runs, warmup=args.warmup, progress=False)
                    ratio = base_macs / macs
                    rows.append({"rate": rate, "round_to": round_to, "macs": macs, "macs_ratio": ratio,
                                 "base_ms": lat["base"].median_ms, "pruned_ms": lat["final"].median_ms,
                                 "pruned_p10_ms": lat["final"].p10_ms, "pruned_p90_ms": lat["final"].p90_ms,
                                 "speedup": lat["speedup"], "share_of_macs_ratio": lat["speedup"] / ratio})  # fmt: skip
        lines = [
            f"ONNX Runtime CPU latency, {args.model}, imgsz {imgsz}, batch 1, median of {args.runs} interleaved runs "
            f"after {args.warmup} warm-up ({platform.processor() or platform.machine()}, {_cores()} cores)",
            "",
            "| target rate | round_to | MACs | MACs ratio | base ms | pruned ms (p10-p90) | speed-up | speed-up / MACs ratio |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['rate']:.1f} | {r['round_to']} | {r['macs'] / 1e6:.1f} M | {r['macs_ratio']:.2f}x | "
                f"{r['base_ms']:.2f} | {r['pruned_ms']:.2f} ({r['pruned_p10_ms']:.2f}-{r['pruned_p90_ms']:.2f}) | "
                f"{r['speedup']:.2f}x | {r['share_of_macs_ratio']:.0%} |"
            )
        table = "\n".join(lines)
        print(table, flush=True)
        (RESULTS / f"latency_{imgsz}.md").write_text(table + "\n")
        (RESULTS / f"latency_{imgsz}.json").write_text(json.dumps(rows, indent=2) + "\n")


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
