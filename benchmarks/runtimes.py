"""Speed-up per runtime: base vs DepGraph-pruned YOLO models timed on ONNX Runtime, OpenVINO and ncnn (each from the
files Ultralytics' exporter writes for it, as a run's per-runtime table times them), next to the MACs ratio, for
each way of rounding the widths. Latency depends on the architecture, not on the weights, so the models are built
from Ultralytics' yaml and pruned without training.

Usage:
    python benchmarks/runtimes.py --models yolov8n yolov8s --imgsz 128 640 --rates 0.3 0.5 0.7 --variants 8y
    python benchmarks/runtimes.py --models yolov8n --imgsz 640 --rates 0.3 --variants 1 8 16   # which multiple runs fast

Prints a Markdown table per model and size and writes it, with the raw numbers, to
benchmarks/results/runtimes_<model>_<imgsz>.{md,json}.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

from common import WidthVariant, cores, macs, pruned_model, write_results

from yolo_prune.checkpoint import save_checkpoint
from yolo_prune.latency import compare_latency, timing_label
from yolo_prune.runtimes import get_runtime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["yolov8n"])
    ap.add_argument("--imgsz", type=int, nargs="+", default=[128, 640])
    ap.add_argument("--rates", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    ap.add_argument("--variants", nargs="+", default=["8y"])
    ap.add_argument("--runtimes", nargs="+", default=["cpu", "openvino", "ncnn"])
    ap.add_argument("--nc", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="each runtime's threads; 1 is timed by its CPU time")
    ap.add_argument("--tag", default="", help="suffix of the results' file names")
    args = ap.parse_args()
    runtimes = [get_runtime(r) for r in args.runtimes]
    for r in runtimes:
        r.require()
    for model in args.models:
        for imgsz in args.imgsz:
            rows = []
            with tempfile.TemporaryDirectory() as tmp:
                base = pruned_model(f"{model}.yaml", args.nc, 0.0, WidthVariant(1, False), imgsz)
                base_pt, base_macs = save_checkpoint(Path(tmp) / "base.pt", base, {"imgsz": imgsz}), macs(base, imgsz)
                base_files = {r.name: r.export(base_pt, imgsz) for r in runtimes}
                for rate in args.rates:
                    for text in args.variants:
                        variant = WidthVariant.parse(text)
                        net = pruned_model(f"{model}.yaml", args.nc, rate, variant, imgsz, args.steps)
                        pt = save_checkpoint(Path(tmp) / f"r{rate}_{variant}.pt", net, {"imgsz": imgsz})
                        row = {"model": model, "imgsz": imgsz, "rate": rate, "variant": str(variant),
                               "macs": macs(net, imgsz), "macs_ratio": base_macs / macs(net, imgsz)}  # fmt: skip
                        for r in runtimes:
                            lat = compare_latency(base_files[r.name], r.export(pt, imgsz), runs=args.runs,
                                                  warmup=args.warmup, provider=r.name, threads=args.threads,
                                                  progress=False)  # fmt: skip
                            row[r.name] = {"base_ms": lat["base"].median_ms, "pruned_ms": lat["final"].median_ms,
                                           "speedup": lat["speedup"]}  # fmt: skip
                        rows.append(row)
                        print(row, flush=True)
            names = [r.name for r in runtimes]
            lines = [
                f"{model}, imgsz {imgsz}, batch 1, {args.threads} thread(s) ("
                + "; ".join(timing_label(n, args.threads) for n in names)
                + f"), median of {args.runs} interleaved runs after {args.warmup} warm-up "
                f"({platform.processor() or platform.machine()}, {cores()} cores)",
                "",
                "| target rate | widths | MACs ratio | " + " | ".join(f"{get_runtime(n).label} base ms" for n in names)
                + " | " + " | ".join(f"{get_runtime(n).label} speed-up" for n in names) + " |",
                "|---|---|---|" + "---|" * (2 * len(names)),
            ]
            for r in rows:
                lines.append(
                    f"| {r['rate']:.1f} | {WidthVariant.parse(r['variant']).label} | {r['macs_ratio']:.2f}x | "
                    + " | ".join(f"{r[n]['base_ms']:.2f}" for n in names) + " | "
                    + " | ".join(f"{r[n]['speedup']:.2f}x ({r[n]['speedup'] / r['macs_ratio']:.0%})" for n in names)
                    + " |"
                )
            write_results(f"runtimes_{model}_{imgsz}{args.tag}", "\n".join(lines), rows)


if __name__ == "__main__":
    main()
