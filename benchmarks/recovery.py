"""What recovers a pruned model's accuracy for the same fine-tuning budget: distillation from the base model, and
the other levers (how the steps split the epochs, how channels are spread over layers, group-sparsity training).

Every variant starts from the same base model, reaches the same target rate and trains for the same number of
epochs in total (``--budget``): DepGraph as ``--steps`` steps of budget/steps fine-tuning epochs, slimming as
budget/2 sparse epochs and budget/2 fine-tuning epochs in one step. Fine-tuning uses the demo's settings (an
optimizer step per batch, ``nbs`` = batch, and ``scale`` 0.25). Variants:

- ``depgraph``, ``slim``: the methods as they are;
- ``depgraph+distill``, ``slim+distill``: the same with ``--distill`` (the base model as teacher);
- ``depgraph-steps<N>``: DepGraph in N steps of budget/N epochs;
- ``depgraph-global``: channels ranked across layers with a per-layer floor, at the uniform cut's MACs
  (``levers.GlobalDepGraph``);
- ``depgraph-groupsparse``: a quarter of the budget spent on Torch-Pruning's group-sparsity training before the
  steps (``levers.GroupSparseDepGraph``);
- ``-warmup<E>``: Ultralytics' learning-rate warm-up at the start of each training shortened to E epochs (its
  default is 3, at most all epochs but one).

Usage:
    python benchmarks/recovery.py --base BASE.pt --data DATA.yaml --rates 0.3 0.5 --budget 16 \
        --variants depgraph depgraph+distill slim slim+distill
    python benchmarks/recovery.py --table   # rebuild the table from the results written so far

Each (variant, rate, seed) result goes to benchmarks/results/recovery/<variant>_<rate>_s<seed>.json as soon as it is
done, so the benchmark can run in parts; the table to benchmarks/results/recovery.md.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import save_table, training_options
from levers import GlobalDepGraph, GroupSparseDepGraph

import yolo_prune  # noqa: F401  (offline settings before Ultralytics)
import yolo_prune.methods
from yolo_prune import prune
from yolo_prune.checkpoint import load_detector
from yolo_prune.evaluation import count_macs_params, evaluate_map

RESULTS = Path(__file__).parent / "results" / "recovery"
VARIANT = re.compile(r"^(depgraph|slim)(?:-steps(\d+))?(-global|-groupsparse)?(?:-warmup([\d.]+))?(\+distill)?$")
LEVERS = {"-global": GlobalDepGraph, "-groupsparse": GroupSparseDepGraph}


def settings(variant: str, args: argparse.Namespace) -> dict:
    """The ``prune`` keywords of ``variant`` within the epoch budget."""
    method, steps, lever, warmup, distill = VARIANT.match(variant).groups()
    out = {"method": method, "distill": bool(distill), **({"warmup_epochs": float(warmup)} if warmup else {})}
    if method == "slim":
        half = args.budget // 2
        return {**out, "iterative_steps": 1, "sparse_epochs": half, "epochs": args.budget - half, "sr": args.sr}
    steps, budget = int(steps or args.steps), args.budget
    if lever == "-groupsparse":  # a quarter of the budget goes to group-sparsity training
        out["sparse_epochs"] = budget // 4
        budget -= budget // 4
    if budget % steps:
        raise SystemExit(f"{variant}: the budget of {budget} epochs does not split into {steps} steps")
    return {**out, "iterative_steps": steps, "epochs": budget // steps}


def run(variant: str, rate: float, seed: int, args: argparse.Namespace, project: Path) -> dict:
    extra = settings(variant, args)
    cfg = project / "finetune.yaml"
    project.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f"nbs: {args.batch}\nscale: 0.25\n")  # the demo's fine-tuning settings
    lever = VARIANT.match(variant).group(3)
    yolo_prune.methods.METHODS["depgraph"] = LEVERS.get(lever, yolo_prune.methods.DepGraphMethod)  # this process only
    start = time.time()
    result = prune(model=args.base, data=args.data, cfg=str(cfg), target_prune_rate=rate, max_map_drop=1.0,
                   imgsz=args.imgsz, batch=args.batch, workers=0, device="cpu", seed=seed, project=str(project),
                   name="run", latency_runs=20, verbose=False, **extra)  # fmt: skip
    final = result.summary["final"]
    return {"variant": variant, "rate": rate, "seed": seed, "macs": final["macs"], "params": final["params"],
            "map50_95": final["map50_95"], "map50": final["map50"], "speedup": result.summary["speedup"],
            "budget": args.budget, "settings": extra, "minutes": (time.time() - start) / 60,
            "steps": [{k: r[k] for k in ("step", "phase", "map50_95_pruned", "map50_95", "seconds")}
                      for r in result.steps]}  # fmt: skip


def table() -> str:
    rows = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["rate"], r["variant"]), []).append(r)
    lines = ["| target rate | variant | MACs | params | mAP50-95 | mAP50 | seeds | speed-up | minutes per run |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for (rate, variant), runs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] != "base", kv[0][1])):
        maps = [r["map50_95"] for r in runs]
        spread = f" ± {statistics.stdev(maps):.3f}" if len(maps) > 1 else ""
        speedup = statistics.mean(r["speedup"] for r in runs if r.get("speedup")) if runs[0].get("speedup") else None
        lines.append(
            f"| {rate} | {variant} | {runs[0]['macs'] / 1e6:.1f} M | {runs[0]['params'] / 1e6:.2f} M | "
            f"{statistics.mean(maps):.3f}{spread} | {statistics.mean(r['map50'] for r in runs):.3f} | "
            f"{', '.join(str(r.get('seed', 0)) for r in runs)} | {f'{speedup:.2f}x' if speedup else '-'} | "
            f"{statistics.mean(r.get('minutes', 0) for r in runs):.1f} |"
        )  # fmt: skip
    return save_table("recovery", lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", help="the demo's base model .pt")
    ap.add_argument("--data", help="the demo's data.yaml")
    ap.add_argument("--rates", type=float, nargs="+", default=[0.3, 0.5])
    ap.add_argument("--variants", nargs="+", default=["depgraph", "depgraph+distill", "slim", "slim+distill"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--budget", type=int, default=16, help="fine-tuning epochs in total, sparse training included")
    ap.add_argument("--steps", type=int, default=4, help="DepGraph steps, unless the variant says otherwise")
    ap.add_argument("--sr", type=float, default=0.005)
    training_options(ap)
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.table:
        for v in args.variants:
            settings(v, args)  # a bad variant name fails before hours of work
        with tempfile.TemporaryDirectory() as tmp:
            base = RESULTS / "base.json"
            if not base.exists():
                model = load_detector(args.base)
                macs, params = count_macs_params(model, args.imgsz)
                m = evaluate_map(model, args.data, args.imgsz, args.batch, "cpu", Path(tmp) / "val")
                base.write_text(json.dumps({"variant": "base", "rate": 0, "macs": macs, "params": params, **m}) + "\n")
            for seed in args.seeds:
                for rate in args.rates:
                    for variant in args.variants:
                        project = Path(tmp) / f"{variant}_{rate}_s{seed}"
                        row = run(variant, rate, seed, args, project)
                        (RESULTS / f"{variant}_{rate}_s{seed}.json").write_text(json.dumps(row, indent=2) + "\n")
                        print({k: v for k, v in row.items() if k != "steps"}, flush=True)
                        shutil.rmtree(project, ignore_errors=True)
    print(table())


if __name__ == "__main__":
    main()
