"""Real speed: ONNX Runtime latency of base vs DepGraph-pruned YOLO models at several rates, for each way of rounding
the pruned widths, next to the MACs ratio. Latency depends on the architecture, not on the weights, so the models are
built from Ultralytics' yaml and pruned without training.

Usage:
    python benchmarks/latency.py --models yolov8n yolov8s --imgsz 128 640 --rates 0.3 0.5 0.7 --variants 1 8 16 8y 16y

A variant is a round_to, with "y" for widths an Ultralytics model yaml can state (yolo-prune's default) and without
for free widths. Prints a Markdown table per model and size and writes it, with the raw numbers, to
benchmarks/results/latency_<model>_<imgsz>.{md,json}.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

from common import WidthVariant, cores, macs, pruned_model, to_onnx, write_results

from yolo_prune.latency import compare_latency, timing_label


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["yolov8n"])
    ap.add_argument("--imgsz", type=int, nargs="+", default=[128, 640])
    ap.add_argument("--rates", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    ap.add_argument("--variants", nargs="+", default=["1", "8", "16", "8y", "16y"])
    ap.add_argument("--nc", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1,
                    help="ONNX Runtime threads; 1 (default) is timed by its CPU time, steady on a shared machine; 0: "
                    "ONNX Runtime's own choice, wall clock")
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    for model in args.models:
        for imgsz in args.imgsz:
            rows = []
            with tempfile.TemporaryDirectory() as tmp:
                base = pruned_model(f"{model}.yaml", args.nc, 0.0, WidthVariant(1, False), imgsz)
                base_macs, base_onnx = macs(base, imgsz), to_onnx(base, Path(tmp), "base", imgsz)
                for rate in args.rates:
                    for text in args.variants:
                        variant = WidthVariant.parse(text)
                        net = pruned_model(f"{model}.yaml", args.nc, rate, variant, imgsz, args.steps)
                        onnx, pruned_macs = to_onnx(net, Path(tmp), f"r{rate}_{variant}", imgsz), macs(net, imgsz)
                        lat = compare_latency(base_onnx, onnx, runs=args.runs, warmup=args.warmup, progress=False,
                                              threads=args.threads or None)
                        ratio = base_macs / pruned_macs
                        rows.append({"model": model, "imgsz": imgsz, "rate": rate, "variant": str(variant),
                                     "macs": pruned_macs, "macs_ratio": ratio, "base_ms": lat["base"].median_ms,
                                     "pruned_ms": lat["final"].median_ms, "pruned_p10_ms": lat["final"].p10_ms,
                                     "pruned_p90_ms": lat["final"].p90_ms, "speedup": lat["speedup"],
                                     "share_of_macs_ratio": lat["speedup"] / ratio})  # fmt: skip
            lines = [
                f"{timing_label('cpu', args.threads or None)}, {model}, imgsz {imgsz}, batch 1, median of {args.runs} "
                f"interleaved runs "
                f"after {args.warmup} warm-up ({platform.processor() or platform.machine()}, {cores()} cores)",
                "",
                "| target rate | widths | MACs | MACs ratio | base ms | pruned ms (p10-p90) | speed-up "
                "| speed-up / MACs ratio |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for r in rows:
                lines.append(
                    f"| {r['rate']:.1f} | {WidthVariant.parse(r['variant']).label} | {r['macs'] / 1e6:.1f} M | "
                    f"{r['macs_ratio']:.2f}x | {r['base_ms']:.2f} | {r['pruned_ms']:.2f} ({r['pruned_p10_ms']:.2f}-"
                    f"{r['pruned_p90_ms']:.2f}) | {r['speedup']:.2f}x | {r['share_of_macs_ratio']:.0%} |"
                )
            write_results(f"latency_{model}_{imgsz}", "\n".join(lines), rows)


if __name__ == "__main__":
    main()
