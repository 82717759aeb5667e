"""Equal MACs is not equal speed: a bigger YOLOv8 pruned down to a smaller stock model's MACs, against that stock
model, in ONNX Runtime latency measured side by side, for each way of rounding the pruned widths.

The rate for each variant is searched so that the pruned model's MACs match the stock model's (rounding moves the
MACs, so each variant gets its own rate). Latency depends on the architecture only, so models are built from
Ultralytics' yaml and pruned without training.

Usage:
    python benchmarks/equal_macs.py --pairs yolov8s:yolov8n yolov8m:yolov8s --imgsz 160 640 --variants 1 8 16 8y 16y

Prints a Markdown table and writes it, with the raw numbers, to benchmarks/results/equal_macs.{md,json}.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

from common import WidthVariant, cores, macs, pruned_model, to_onnx, write_results

from yolo_prune.latency import compare_latency, timing_label


def matching_rate(big: str, target_macs: int, nc: int, variant: WidthVariant, imgsz: int) -> tuple[float, int]:
    """The uniform rate (to 0.005) whose pruned ``big`` has the MACs closest to ``target_macs``."""
    lo, hi, best = 0.0, 0.95, (1.0, 0.0, 0)
    for _ in range(9):
        mid = (lo + hi) / 2
        m = macs(pruned_model(big, nc, mid, variant, imgsz), imgsz)
        best = min(best, (abs(m - target_macs) / target_macs, mid, m))
        lo, hi = (mid, hi) if m > target_macs else (lo, mid)
    return best[1], best[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", nargs="+", default=["yolov8s:yolov8n", "yolov8m:yolov8s"], help="big:small")
    ap.add_argument("--imgsz", type=int, nargs="+", default=[160, 640])
    ap.add_argument("--variants", nargs="+", default=["1", "8", "16", "8y", "16y"])
    ap.add_argument("--nc", type=int, default=20, help="class count of every model (20: a VOC-sized data set)")
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1,
                    help="ONNX Runtime threads; 1 (default) is timed by its CPU time, steady on a shared machine; 0: "
                    "ONNX Runtime's own choice, wall clock")
    ap.add_argument("--warmup", type=int, default=10)
    args = ap.parse_args()
    rows = []
    for pair in args.pairs:
        big, small = pair.split(":")
        for imgsz in args.imgsz:
            with tempfile.TemporaryDirectory() as tmp:
                stock = pruned_model(f"{small}.yaml", args.nc, 0.0, WidthVariant(1, False), imgsz)
                stock_macs, stock_onnx = macs(stock, imgsz), to_onnx(stock, Path(tmp), small, imgsz)
                for text in args.variants:
                    variant = WidthVariant.parse(text)
                    rate, pruned_macs = matching_rate(f"{big}.yaml", stock_macs, args.nc, variant, imgsz)
                    net = pruned_model(f"{big}.yaml", args.nc, rate, variant, imgsz)
                    onnx = to_onnx(net, Path(tmp), f"{big}_{variant}", imgsz)
                    lat = compare_latency(stock_onnx, onnx, runs=args.runs, warmup=args.warmup, progress=False,
                                          threads=args.threads or None)
                    rows.append({"big": big, "small": small, "imgsz": imgsz, "variant": str(variant), "rate": rate,
                                 "pruned_macs": pruned_macs, "stock_macs": stock_macs,
                                 "stock_ms": lat["base"].median_ms, "pruned_ms": lat["final"].median_ms,
                                 "pruned_p10_ms": lat["final"].p10_ms, "pruned_p90_ms": lat["final"].p90_ms,
                                 "pruned_vs_stock": lat["final"].median_ms / lat["base"].median_ms})  # fmt: skip
                    r = rows[-1]
                    print(f"{big}->{small} {imgsz}px {variant.label}: rate {rate:.3f}, MACs {pruned_macs / 1e6:.0f} M "
                          f"vs {stock_macs / 1e6:.0f} M, {r['pruned_ms']:.2f} ms vs {r['stock_ms']:.2f} ms "
                          f"({r['pruned_vs_stock']:.2f}x)", flush=True)  # fmt: skip
    lines = [
        f"{timing_label('cpu', args.threads or None)}, batch 1, {args.nc} classes, median of {args.runs} interleaved "
        f"runs after {args.warmup} "
        f"warm-up ({platform.processor() or platform.machine()}, {cores()} cores)",
        "",
        "| pruned model | stock model | imgsz | widths | rate | MACs pruned / stock | ms pruned (p10-p90) | ms stock "
        "| pruned / stock latency |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['big']} | {r['small']} | {r['imgsz']} | {WidthVariant.parse(r['variant']).label} | {r['rate']:.3f} "
            f"| {r['pruned_macs'] / 1e6:.0f} M / {r['stock_macs'] / 1e6:.0f} M | {r['pruned_ms']:.2f} "
            f"({r['pruned_p10_ms']:.2f}-{r['pruned_p90_ms']:.2f}) | {r['stock_ms']:.2f} | {r['pruned_vs_stock']:.2f}x |"
        )
    write_results("equal_macs", "\n".join(lines), rows)


if __name__ == "__main__":
    main()
