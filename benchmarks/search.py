"""The width search against the speed target: the same base, the same targets, the same training epochs per target.

One search run serves every target (``--supernet-epochs S`` once, then ``--epochs E`` per target); for each target,
one speed-target run (``--method latency``) gets ``--steps`` steps of ``--step-epochs``, as many epochs as the search
spends on one target when ``steps x step-epochs = S + E``. At the end the base and every final model are timed
together (ONNX Runtime, one thread timed by its CPU time, interleaved), so that every speed-up in the table comes
from one measurement; mAP50-95 is each model's on the whole validation split (yolo-prune's, square letterboxed).

Usage:
    python benchmarks/search.py --data datasets/generated/shapes-400x128-3cls-seed0/yolo/data.yaml \\
        --base .cache/base-models/<...>/weights/best.pt --targets 1.5 2 --supernet-epochs 4 --epochs 4 --steps 4 \\
        --step-epochs 2 --seed 0 --tag demo-yolov8n
    python benchmarks/search.py --table   # rebuild the table from the results written so far

Writes benchmarks/results/search/<tag>-seed<seed>.json and benchmarks/results/search.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import save_table, training_options

import yolo_prune  # noqa: F401  (offline settings before Ultralytics)
from yolo_prune import prune
from yolo_prune.latency import measure_interleaved

RESULTS = Path(__file__).parent / "results" / "search"
TIMING = dict(latency_threads=1, compare_runtimes=False)


def run(args: argparse.Namespace) -> dict:
    common = dict(data=args.data, imgsz=args.imgsz, batch=args.batch, workers=0, device="cpu", seed=args.seed,
                  max_map_drop=1.0, verbose=False, project=args.project, cfg=args.cfg, **TIMING)  # fmt: skip
    tag = f"{args.tag}-seed{args.seed}"
    rows, finals = [], []
    started = time.time()
    search = prune(model=args.base, method="search", target_speedup=args.targets, supernet_epochs=args.supernet_epochs,
                   epochs=args.epochs, name=f"{tag}-search", **common)  # fmt: skip
    minutes = (time.time() - started) / 60
    steps = {r["step"]: r for r in search.steps if r["phase"] == "prune"}
    base_onnx = search.run_dir / "weights" / "base.onnx"
    for k, target in enumerate(sorted(args.targets), 1):
        row = steps[k]
        rows.append({"method": "search", "target": target, "map50_95": row["map50_95"], "macs": row["macs"],
                     "params": row["params"], "epochs": args.supernet_epochs + args.epochs,
                     "epochs_note": f"{args.supernet_epochs} supernet (shared by {len(args.targets)}) + {args.epochs}",
                     "minutes": minutes})  # fmt: skip
        finals.append(search.run_dir / row["checkpoint"].replace(".pt", ".onnx"))
    for target in sorted(args.targets):
        started = time.time()
        lat = prune(model=args.base, target_speedup=target, iterative_steps=args.steps, epochs=args.step_epochs,
                    name=f"{tag}-latency-{target:g}", **common)  # fmt: skip
        rows.append({"method": "latency", "target": target, "map50_95": lat.summary["final"]["map50_95"],
                     "macs": lat.summary["final"]["macs"], "params": lat.summary["final"]["params"],
                     "epochs": args.steps * args.step_epochs, "epochs_note": f"{args.steps} x {args.step_epochs}",
                     "minutes": (time.time() - started) / 60})  # fmt: skip
        finals.append(lat.onnx)
    stats = measure_interleaved([base_onnx, *finals], runs=args.runs, threads=1)
    for row, s in zip(rows, stats[1:]):
        row.update(speedup=stats[0].median_ms / s.median_ms, ms=s.median_ms)
    base = search.summary["base"]
    result = {"tag": args.tag, "seed": args.seed, "base": args.base, "targets": sorted(args.targets),
              "base_map50_95": base["map50_95"], "base_ms": stats[0].median_ms, "imgsz": args.imgsz,
              "search": search.summary.get("search"), "rows": rows}  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{tag}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def table() -> str:
    lines = ["| base | seed | target | method | training epochs | measured speed-up (joint) | mAP50-95 | MACs | params "
             "| minutes |", "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for path in sorted(RESULTS.glob("*.json")):
        res = json.loads(path.read_text())
        lines.append(f"| {res['tag']} | {res['seed']} | base | | | 1.00x ({res['base_ms']:.2f} ms) | "
                     f"{res['base_map50_95']:.3f} | | | |")  # fmt: skip
        for r in sorted(res["rows"], key=lambda r: (r["target"], r["method"])):
            lines.append(f"| {res['tag']} | {res['seed']} | {r['target']:g}x | {r['method']} | {r['epochs_note']} | "
                         f"{r['speedup']:.2f}x | {r['map50_95']:.3f} | {r['macs'] / 1e6:.1f} M | "
                         f"{r['params'] / 1e6:.2f} M | {r['minutes']:.1f} |")  # fmt: skip
    return save_table("search", lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="data.yaml")
    ap.add_argument("--base", help="the trained checkpoint every run starts from")
    ap.add_argument("--targets", type=float, nargs="+", default=[1.5, 2.0])
    ap.add_argument("--supernet-epochs", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=4, help="the search's fine-tuning epochs per target")
    ap.add_argument("--steps", type=int, default=4, help="the speed target's steps")
    ap.add_argument("--step-epochs", type=int, default=2, help="the speed target's fine-tuning epochs per step")
    ap.add_argument("--cfg", help="a yolo-prune --cfg file for every run (e.g. the demo's fine-tuning settings)")
    ap.add_argument("--runs", type=int, default=100, help="timed rounds of the joint measurement")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="base", help="the base's name in the table and the results' file names")
    ap.add_argument("--project", default="runs/bench-search")
    training_options(ap)
    args = ap.parse_args()
    if not args.table:
        run(args)
    print(table())


if __name__ == "__main__":
    main()
