"""Calibration of the hard data set: yolov8n and yolov8s trained from their yamls with the base-model recipe.

The hard set is only useful if a yolov8n trained for the base budget stays well below saturation and a bigger model
scores clearly higher; this script measures both. Models come from ``train_base_model``, so they are cached in
``.cache/base-models`` and a rerun only trains what is missing (times are those of the original training). CPU time
is the training process's own, a fairer measure than wall time on a shared machine.

Usage:
    python benchmarks/hard_data.py --images 600 --imgsz 128 --models yolov8n.yaml yolov8s.yaml --train-seeds 0 1
    python benchmarks/hard_data.py --table   # rebuild the table from the results written so far

Each run is written to benchmarks/results/hard_data/<data set>_<model>_seed<N>.json as soon as it is done; the
table goes to benchmarks/results/hard_data.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from common import save_table

import yolo_prune  # noqa: F401  (offline settings before Ultralytics)
from yolo_prune.demo.base_model import train_base_model
from yolo_prune.demo.hard import HardSettings, hard_dataset

RESULTS = Path(__file__).parent / "results" / "hard_data"


def table() -> str:
    """Markdown table of every result so far, one row per data set, model and training seed."""
    rows = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    lines = [
        "| data set | images | imgsz | model | train seed | epochs | wall time | CPU time | mAP50-95 | mAP50 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["data"], r["model"], r["train_seed"])):
        cpu = f"{r['cpu_seconds'] / 60:.1f} min" if r.get("cpu_seconds") else "-"
        lines.append(f"| {r['data']} | {r['images']} | {r['imgsz']} | {r['model']} | {r['train_seed']} | "
                     f"{r['epochs']} | {r['seconds'] / 60:.1f} min | {cpu} | {r['map50_95']:.3f} | "
                     f"{r['map50']:.3f} |")  # fmt: skip
    return save_table("hard_data", lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="datasets/generated", help="where the hard data set is cached")
    ap.add_argument("--images", type=int, default=HardSettings.n_images)
    ap.add_argument("--imgsz", type=int, default=HardSettings.imgsz)
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--models", nargs="+", default=["yolov8n.yaml", "yolov8s.yaml"])
    ap.add_argument("--train-seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--table", action="store_true", help="only rebuild the table")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.table:
        os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(".cache/ultralytics").resolve()))
        settings = HardSettings(n_images=args.images, imgsz=args.imgsz, seed=args.data_seed)
        data = hard_dataset(args.root, settings)
        for model in args.models:
            for seed in args.train_seeds:
                out = RESULTS / f"{settings.name}_{Path(model).stem}_seed{seed}.json"
                cpu = time.process_time()
                base = train_base_model(data, model=model, imgsz=args.imgsz, seed=seed)
                cpu = round(time.process_time() - cpu, 1)
                if base.cached:  # trained by an earlier run: keep the CPU time measured then, if any
                    cpu = json.loads(out.read_text()).get("cpu_seconds") if out.is_file() else None
                row = {"data": settings.name, "images": args.images, "imgsz": args.imgsz, "model": Path(model).stem,
                       "train_seed": seed, "epochs": base.recipe["epochs"], "seconds": base.seconds,
                       "cpu_seconds": cpu,
                       "map50_95": base.map50_95, "map50": base.map50}  # fmt: skip
                out.write_text(json.dumps(row, indent=2) + "\n")
                print(f"{row['model']} seed {seed}: mAP50-95 {base.map50_95:.3f}, mAP50 {base.map50:.3f}, "
                      f"{base.seconds / 60:.1f} min", flush=True)  # fmt: skip
    print(table())


if __name__ == "__main__":
    main()
