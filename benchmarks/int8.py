"""Pruning and INT8 together: one DepGraph run per latency provider with ``--int8``, and its table of base and final,
fp32 and INT8 (the task's metric from Ultralytics' validator on each exported model, latency timed in the same
rounds), gathered into one Markdown table.

Usage:
    python benchmarks/int8.py --model base.pt --data data.yaml --providers cpu openvino --rate 0.5 --steps 2 \\
        --epochs 2 --imgsz 128

Writes benchmarks/results/int8.md and int8.json (each run's summary["int8"] and its command).
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

from common import cores, write_results

from yolo_prune import prune
from yolo_prune.latency import timing_label


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--providers", nargs="+", default=["cpu", "openvino"])
    ap.add_argument("--rate", type=float, default=0.5)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--imgsz", type=int, default=128)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--project", default="runs/bench-int8")
    args = ap.parse_args()
    cfg = Path(args.project).absolute() / "finetune.yaml"  # the demo's fine-tuning settings
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("nbs: 16\nscale: 0.25\n")
    raw, lines = {}, [
        f"{Path(args.model).name}, DepGraph rate {args.rate} in {args.steps} steps of {args.epochs} epochs, imgsz "
        f"{args.imgsz}, batch 1, one thread timed by its CPU time ({platform.processor() or platform.machine()}, "
        f"{cores()} cores); speed-up over the base in fp32 on the same runtime",
        "",
        "| runtime | model | mAP50-95 | mAP50 | latency ms | speed-up |",
        "|---|---|---|---|---|---|",
    ]
    for provider in args.providers:
        result = prune(model=args.model, data=args.data, cfg=str(cfg), target_prune_rate=args.rate,
                       iterative_steps=args.steps, epochs=args.epochs, imgsz=args.imgsz, workers=0, device="cpu",
                       latency_provider=provider, latency_threads=1, latency_runs=args.runs, int8=True,
                       compare_runtimes=False, max_map_drop=1.0, verbose=False, project=args.project,
                       name=f"int8-{provider}")  # fmt: skip
        table = result.summary["int8"]
        raw[provider] = {"run": str(result.run_dir), "timing": timing_label(provider, 1), **table}
        base_ms = table["rows"]["base fp32"]["latency"]["median_ms"]
        for key, row in table["rows"].items():
            ms = row["latency"]["median_ms"]
            lines.append(f"| {table['label']} | {key} | {row['map50_95']:.3f} | {row['map50']:.3f} | {ms:.2f} | "
                         f"{base_ms / ms:.2f}x |")  # fmt: skip
    write_results("int8", "\n".join(lines), raw)


if __name__ == "__main__":
    main()
