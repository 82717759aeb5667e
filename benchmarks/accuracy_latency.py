"""Accuracy for latency: a bigger YOLOv8 pruned down to a smaller stock model's measured latency, against that stock
model trained from scratch, on the hard generated data set where capacity matters.

What a user compares: prune a yolov8s to yolov8n's speed, or just train a yolov8n? Every model here ends with its
ONNX Runtime latency measured side by side with the stock small model (interleaved runs, batch 1, one thread timed
by its CPU time, as ``--latency-threads 1``), so points are placed by measured speed, not by MACs. The runs:

- ``<big>-depgraph`` and ``<big>-depgraph-distill``: DepGraph at the uniform rate whose architecture runs as fast as
  the small model (searched on measured latency before training), ``steps`` x ``epochs`` of fine-tuning, without and
  with distillation from the unpruned big model;
- ``<big>-latency`` and ``<big>-latency-distill``: the latency-targeted method (``--target-speedup``) aiming at the
  speed-up that takes the big model to the small one's latency (measured side by side), same budget;
- ``<big>-search``: the one-shot width search (``--method search``) at that speed-up: half the budget supernet
  training, the other half fine-tuning the searched subnet;
- ``<big>-slim`` and ``<big>-slim-distill``: network slimming, half the budget sparse training (once, shared by
  both), then pruned at the rate whose slimmed architecture (its widths follow the trained |gamma|) runs as fast as
  the small model, and fine-tuned for the other half; ``<big>-slim-samerate``: slimming at the DepGraph rate instead
  (slimming keeps the fast, wide layers, so it lands slower at the same rate: the plot shows where);
- ``<small>-scratch-total``: the small model trained from scratch for as many epochs as the pruned model has seen
  in total (the big base's plus the pruning run's); ``<small>-scratch-extra``: the small base model trained further
  for the pruning run's epochs only (what the same extra compute buys the small model); ``<small>-distill-extra``:
  the same with Ultralytics' own distillation from the big base (``distill_model=``), the user's strongest
  alternative to pruning;
- ``<small>-depgraph``: the small model itself pruned (rate ``--small-rate``), same budget.

Usage:
    python benchmarks/accuracy_latency.py --big yolov8s --small yolov8n --imgsz 128 --steps 4 --epochs 4
    python benchmarks/accuracy_latency.py --device 0 --imgsz 320 --base-epochs 150 --epochs 10   # on a GPU
    python benchmarks/accuracy_latency.py --seed 1 --only yolov8s-latency yolov8n-scratch-extra  # a second seed
    python benchmarks/accuracy_latency.py --table   # rebuild the table and plot from the results so far
    python benchmarks/accuracy_latency.py --imgsz 64 --base-epochs 150 --tag _converged ...
    python benchmarks/accuracy_latency.py ... --add-run yolov8s-latency-before=/tmp/runs/before  # a run made apart

Base models come from ``train_base_model`` (cached in .cache/base-models). The table says whether each base has
converged: trained a fifth of its epochs more at its schedule's last learning rate, validated after every epoch, it
must gain less than ``CONVERGED`` mAP50-95 (the base recipe validates only once, at the end, so the base's own curve
is not recorded; ``convergence``). Each run's result is written
to benchmarks/results/accuracy_latency<tag>/<run>.json (``<run>_s<seed>.json`` for a seed other than 0: the seed of
the fine-tuning and training after the bases, which stay the same) as soon as it is done, so the benchmark can run
in parts; the table (each run's mean over its seeds, and each seed's result) goes to
benchmarks/results/accuracy_latency<tag>.md and the plot to benchmarks/results/accuracy_latency<tag>.png.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch.nn as nn
import yaml
from common import (
    RESULTS, WidthVariant, cores, pruned_model, save_table, slimmed, sparse_checkpoint, to_onnx, training_options,
)  # fmt: skip

import yolo_prune  # noqa: F401  (offline settings before Ultralytics)
from yolo_prune import prune
from yolo_prune.checkpoint import load_detector
from yolo_prune.demo.base_model import RECIPE, train_base_model
from yolo_prune.demo.hard import hard_dataset
from yolo_prune.evaluation import count_macs_params, evaluate_map
from yolo_prune.latency import compare_latency
from yolo_prune.settings import resolve_settings

NAME = "accuracy_latency"
THREADS = 1  # every timing on one thread, by its CPU time: steady while other work shares the machine
CONVERGED = 0.005  # mAP50-95 a converged base gains at most over the last fifth of its epochs (the rule)
# How every run trains after the base, pruning runs too: the base recipe's settings (before 2026-12-05 the pruning
# runs fine-tuned with Ultralytics' defaults: nbs 64, mosaic, scale 0.5, 3 warm-up epochs; section 8's rows).
FINETUNE = {k: RECIPE[k] for k in ("nbs", "mosaic", "scale", "warmup_epochs")}


def rate_for_latency(build: Callable[[float], nn.Module], small_onnx: Path, imgsz: int, folder: Path,
                     runs: int) -> tuple[float, float]:  # fmt: skip
    """The rate (to 0.01) at which ``build(rate)``, a pruned architecture, runs as fast as the small model: latency
    ratio pruned / small measured interleaved, searched by bisection."""
    lo, hi, best = 0.0, 0.9, (9.9, 0.0)
    for i in range(7):
        mid = round((lo + hi) / 2, 3)
        onnx = to_onnx(build(mid), folder, f"probe{i}", imgsz)
        lat = compare_latency(small_onnx, onnx, runs=runs, warmup=5, progress=False, threads=THREADS)
        ratio = lat["final"].median_ms / lat["base"].median_ms
        best = min(best, (abs(ratio - 1), mid))
        print(f"rate {mid:.3f}: {ratio:.2f}x the small model's latency", flush=True)
        lo, hi = (mid, hi) if ratio > 1 else (lo, mid)
    return best[1], 1 + best[0]


def sparse_model(base: Path, data: str, args: argparse.Namespace, folder: Path) -> Path:
    """The big base after slimming's sparse phase (half the budget), written once and shared by the slimming runs
    with and without distillation: the sparse phase does not distill, so both would train the same model."""
    if (folder / "sparse.pt").is_file():
        return folder / "sparse.pt"
    settings = resolve_settings(None, {"method": "slim", "sparse_epochs": args.steps * args.epochs // 2,
                                       "sr": args.sr, "imgsz": args.imgsz, "batch": args.batch, "workers": 0,
                                       "device": args.device, "seed": args.seed, "verbose": False})  # fmt: skip
    return sparse_checkpoint(base, data, settings, folder)


def run_pruning(name: str, base: Path, data: str, settings: dict[str, Any], args: argparse.Namespace,
                project: Path, small_onnx: Path) -> dict[str, Any]:  # fmt: skip
    start = time.time()
    result = prune(model=str(base), data=data, max_map_drop=1.0, imgsz=args.imgsz, batch=args.batch, workers=0,
                   device=args.device, project=str(project), name=name, latency_runs=20, latency_threads=THREADS,
                   seed=args.seed, verbose=False, **FINETUNE, **settings)  # fmt: skip
    return pruned_row(name, settings, _budget(settings), result.summary, result.onnx, small_onnx, args.runs,
                      (time.time() - start) / 60)  # fmt: skip


def pruned_row(name: str, settings: dict[str, Any], epochs: int, summary: dict[str, Any], onnx: Path,
               small_onnx: Path, runs: int, minutes: float) -> dict[str, Any]:  # fmt: skip
    """A pruning run's result: its summary's final size and metrics (and a width search's own summary), its final
    ONNX model timed beside the small model."""
    final = summary["final"]
    return {"run": name, "settings": settings, "macs": final["macs"], "params": final["params"],
            "map50_95": final["map50_95"], "map50": final["map50"], "epochs_after_base": epochs, "minutes": minutes,
            **_latency(onnx, small_onnx, runs), **{k: summary[k] for k in ("search",) if k in summary}}  # fmt: skip


def run_slimming(name: str, base: Path, data: str, settings: dict[str, Any], args: argparse.Namespace,
                 project: Path, small_onnx: Path, shared: Path) -> dict[str, Any]:  # fmt: skip
    """Slimming at the small model's latency: the sparse phase (shared), then the rate whose slimmed architecture
    runs as fast as the small model, then fine-tuning for the other half of the budget (``settings`` may add
    distillation, from the unpruned base, not from the sparse model the run starts from)."""
    start = time.time()
    sparse_pt = sparse_model(base, data, args, shared)
    rate, ratio = rate_for_latency(lambda r: slimmed(sparse_pt, r, args.imgsz), small_onnx, args.imgsz,
                                   project, args.runs)  # fmt: skip
    half = args.steps * args.epochs // 2
    run = {"method": "slim", "sparse_epochs": 0, "target_prune_rate": rate, "iterative_steps": 1,
           "epochs": args.steps * args.epochs - half, "sr": args.sr, **settings}  # fmt: skip
    if run.get("distill"):
        run["teacher"] = str(base)
    row = run_pruning(name, sparse_pt, data, run, args, project, small_onnx)
    row.update(settings={**run, "sparse_epochs_before": half}, epochs_after_base=half + run["epochs"],
               minutes=(time.time() - start) / 60, slim_rate=rate)  # fmt: skip
    return row


def _budget(settings: dict[str, Any]) -> int:
    """Training epochs after the base: slimming's sparse ones, the search's supernet ones and the fine-tuning."""
    before = {"slim": settings.get("sparse_epochs", 0), "search": settings.get("supernet_epochs", 0)}
    return before.get(settings.get("method"), 0) + settings["iterative_steps"] * settings["epochs"]


def _latency(onnx: Path, small_onnx: Path, runs: int) -> dict[str, float]:
    """Latency of ``onnx`` and of the stock small model, measured in the same interleaved rounds."""
    lat = compare_latency(small_onnx, onnx, runs=runs, warmup=10, progress=False, threads=THREADS)
    return {"latency_ms": lat["final"].median_ms, "small_ms": lat["base"].median_ms,
            "latency_vs_small": lat["final"].median_ms / lat["base"].median_ms}  # fmt: skip


def run_training(name: str, model: str, data: str, epochs: int, args: argparse.Namespace, project: Path,
                 small_onnx: Path, weights: Path | None = None, teacher: Path | None = None) -> dict[str, Any]:
    """The small model trained with the base recipe for ``epochs`` epochs, from scratch or from ``weights``; with
    ``teacher``, distilled from it by Ultralytics' own distillation (``distill_model=``)."""
    from ultralytics import YOLO

    start = time.time()
    recipe = {**RECIPE, "epochs": epochs, "imgsz": args.imgsz, "batch": args.batch, "seed": args.seed}
    if teacher is not None:
        recipe["distill_model"] = str(teacher)
    YOLO(str(weights or model)).train(data=data, workers=0, device=args.device, plots=False, project=str(project),
                                      name=name, verbose=False, exist_ok=True, **recipe)  # fmt: skip
    best = load_detector(project / name / "weights" / "best.pt")
    metrics = evaluate_map(best, data, args.imgsz, args.batch, args.device, project / "val" / name)
    macs, params = count_macs_params(best, args.imgsz)
    onnx = to_onnx(best, project, name, args.imgsz)
    settings = {"epochs": epochs, "from": "scratch" if weights is None else "base",
                **({"distill_model": Path(teacher).parent.name} if teacher else {})}
    return {"run": name, "settings": settings,
            "macs": macs, "params": params, **metrics, "epochs_after_base": epochs if weights else 0,
            "minutes": (time.time() - start) / 60, **_latency(onnx, small_onnx, args.runs)}  # fmt: skip


def added_run(name: str, run_dir: Path, small_onnx: Path, runs: int) -> dict[str, Any]:
    """A yolo-prune run made apart (e.g. with other code on the path), placed like the others: its summary's final
    metrics, its final ONNX model timed beside the small model."""
    summary = json.loads((run_dir / "summary.json").read_text())
    settings = yaml.safe_load((run_dir / "settings.yaml").read_text())
    return pruned_row(name, {"from": str(run_dir)}, _budget(settings), summary, run_dir / "weights" / "final.onnx",
                      small_onnx, runs, 0.0)  # fmt: skip


def result_name(run: str, seed: int) -> str:
    """The results file of ``run`` at ``seed``: seed 0 keeps the plain name the first results were written under."""
    return f"{run}.json" if seed == 0 else f"{run}_s{seed}.json"


def convergence(model: str, base: Any, data: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Whether ``base`` has converged: trained ``epochs / 5`` epochs more from its weights with the base recipe, at
    the learning rate its schedule ended on (Ultralytics' automatic choice for so short a run, AdamW at
    ``0.002 * 5 / (4 + nc)``, times ``lrf``), validated after every epoch, its best mAP50-95 against its own. Written
    once to ``out/bases/<model>-convergence.json``."""
    from ultralytics import YOLO

    path = out / "bases" / f"{model}-convergence.json"
    if path.is_file():
        return json.loads(path.read_text())
    nc = load_detector(base.weights).model[-1].nc
    epochs = max(1, math.ceil(args.base_epochs / 5))
    lr = 0.002 * 5 / (4 + nc) * 0.01  # lrf's default
    with tempfile.TemporaryDirectory() as tmp:
        YOLO(str(base.weights)).train(
            data=data, epochs=epochs, imgsz=args.imgsz, batch=args.batch, optimizer="AdamW", lr0=lr, lrf=1.0,
            warmup_epochs=0, val=True, plots=False, workers=0, device=args.device, project=tmp, name="more",
            verbose=False, exist_ok=True, **{k: v for k, v in FINETUNE.items() if k != "warmup_epochs"},
        )  # fmt: skip
        with open(Path(tmp) / "more" / "results.csv") as f:
            maps = [float(r["metrics/mAP50-95(B)"]) for r in csv.DictReader(f)]
    gain = max(maps) - base.map50_95
    result = {"base_epochs": args.base_epochs, "more_epochs": epochs, "lr": lr, "base_map50_95": base.map50_95,
              "more_map50_95": maps, "gain": gain, "converged": gain < CONVERGED}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def merged_rows(out: Path) -> list[dict[str, Any]]:
    """One row per run: the mean of its seeds' mAP and latency ratio, with each seed's own result kept."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for p in sorted(out.glob("*.json")):
        r = json.loads(p.read_text())
        runs.setdefault(r["run"], []).append(r)
    rows = []
    for seeds in runs.values():
        seeds.sort(key=lambda r: r.get("seed", 0))
        mean = {k: sum(r[k] for r in seeds) / len(seeds) for k in ("map50_95", "map50", "latency_vs_small")}
        rows.append({**seeds[0], **mean, "seeds": [(r.get("seed", 0), r["map50_95"], r["latency_vs_small"])
                                                   for r in seeds]})  # fmt: skip
    return rows


def table(tag: str) -> str:
    rows = merged_rows(RESULTS / f"{NAME}{tag}")
    lines = [
        "| run | mAP50-95 | mAP50 | latency vs stock small (measured) | ms (small ms) | MACs | params "
        "| epochs after the base | minutes | each seed (ms, MACs, params, minutes: seed 0's) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: r["latency_vs_small"]):
        seeds = "; ".join(f"seed {s}: {m:.3f} at {x:.2f}x" for s, m, x in r["seeds"])
        lines.append(f"| {r['run']} | {r['map50_95']:.3f} | {r['map50']:.3f} | {r['latency_vs_small']:.2f}x | "
                     f"{r['latency_ms']:.2f} ({r['small_ms']:.2f}) | {r['macs'] / 1e6:.0f} M | "
                     f"{r['params'] / 1e6:.2f} M | {_epochs(r)} | {r['minutes']:.1f} | {seeds} |")  # fmt: skip
    lines.append("")
    for r in rows:
        if "convergence" in r:
            c = r["convergence"]
            lines.append(f"{r['run']}: {c['base_epochs']} epochs, mAP50-95 {c['base_map50_95']:.3f}; "
                         f"{c['more_epochs']} epochs more at lr {c['lr']:.2g} reached at best "
                         f"{max(c['more_map50_95']):.3f} ({c['gain']:+.3f}; Ultralytics' validator in training, "
                         f"rectangular batches): {'converged' if c['converged'] else 'NOT converged'}")  # fmt: skip
    text = save_table(f"{NAME}{tag}", lines)
    _plot(rows, RESULTS / f"{NAME}{tag}.png")
    return text


def _epochs(row: dict[str, Any]) -> str:
    """Training epochs after the base, or all of them for a model trained from scratch."""
    if row["settings"].get("from") == "scratch":
        return f"{row['settings']['epochs']} from scratch"
    return str(row["epochs_after_base"])


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    """mAP50-95 against measured latency (relative to the stock small model): the Pareto view."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5.5))
    ax = fig.add_subplot()
    for r in rows:
        marker = "s" if "scratch" in r["run"] or r["run"].endswith("-base") else ("*" if "distill" in r["run"] else "o")
        ax.scatter(r["latency_vs_small"], r["map50_95"], marker=marker, s=60)
        ax.annotate(r["run"], (r["latency_vs_small"], r["map50_95"]), textcoords="offset points", xytext=(5, 4),
                    fontsize=7)  # fmt: skip
    ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("ONNX Runtime latency / stock small model's (measured side by side, batch 1)")
    ax.set_ylabel("mAP50-95 (val)")
    ax.set_title("Accuracy for latency on the hard data set")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", default="yolov8s")
    ap.add_argument("--small", default="yolov8n")
    training_options(ap)
    ap.add_argument("--base-epochs", type=int, default=RECIPE["epochs"],
                    help="epochs of the two base models (the demo's recipe otherwise; more for bases near convergence)")
    ap.add_argument("--images", type=int, default=600, help="images in the hard data set (4/5 train, 1/5 val)")
    ap.add_argument("--tag", default="", help="suffix of the results folder, table and plot (another setup)")
    ap.add_argument("--add-run", nargs="*", default=[], metavar="NAME=DIR",
                    help="finished yolo-prune runs made apart, to place among these (their --seed is this --seed)")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=4, help="fine-tuning epochs per step")
    ap.add_argument("--sr", type=float, default=50.0, help="slimming's L1 penalty (sized for a short sparse phase)")
    ap.add_argument("--small-rate", type=float, default=0.3, help="rate at which the small model itself is pruned")
    ap.add_argument("--runs", type=int, default=50, help="interleaved latency runs per comparison")
    ap.add_argument("--device", default="cpu",
                    help="training device, e.g. 0 for a GPU (latency is always ONNX Runtime's CPU provider)")
    ap.add_argument("--only", nargs="*", help="run only these (names as in the table, e.g. yolov8s-depgraph)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the training after the bases (the bases stay)")
    args = ap.parse_args()
    out = RESULTS / f"{NAME}{args.tag}"
    out.mkdir(parents=True, exist_ok=True)
    if args.table:
        print(table(args.tag))
        return
    data = str(hard_dataset("datasets/generated", imgsz=args.imgsz, n_images=args.images))
    bases = {m: train_base_model(data, model=f"{m}.yaml", imgsz=args.imgsz, device=args.device, epochs=args.base_epochs)
             for m in (args.big, args.small)}
    nc = load_detector(bases[args.small].weights).model[-1].nc
    budget = args.steps * args.epochs
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        small_onnx = to_onnx(load_detector(bases[args.small].weights), tmp, "small", args.imgsz)
        def depgraph_architecture(r: float) -> nn.Module:
            return pruned_model(f"{args.big}.yaml", nc, r, WidthVariant(8, True), args.imgsz)

        rate, ratio = rate_for_latency(depgraph_architecture, small_onnx, args.imgsz, tmp, args.runs)
        print(f"{args.big} at rate {rate:.3f} runs at {ratio:.2f}x {args.small}'s latency ({cores()} cores)")
        big_onnx = to_onnx(load_detector(bases[args.big].weights), tmp, "big", args.imgsz)
        speedup = compare_latency(small_onnx, big_onnx, runs=args.runs, warmup=10, progress=False,
                                  threads=THREADS)["speedup"] ** -1
        print(f"stock {args.big} / {args.small} latency: {speedup:.2f}x")
        depgraph = {"method": "depgraph", "target_prune_rate": rate, "iterative_steps": args.steps, "epochs": args.epochs}
        samerate = {"method": "slim", "target_prune_rate": rate, "iterative_steps": 1, "sparse_epochs": budget // 2,
                    "epochs": budget - budget // 2, "sr": args.sr}  # fmt: skip
        latency = {"target_speedup": speedup, "iterative_steps": args.steps, "epochs": args.epochs}
        search = {"method": "search", "target_speedup": speedup, "supernet_epochs": budget // 2,
                  "epochs": budget - budget // 2, "iterative_steps": 1}  # fmt: skip
        plans: dict[str, Any] = {}
        for name, settings in (("depgraph", depgraph), ("latency", latency)):
            plans[f"{args.big}-{name}"] = ("prune", bases[args.big].weights, settings)
            plans[f"{args.big}-{name}-distill"] = ("prune", bases[args.big].weights, {**settings, "distill": True})
        plans[f"{args.big}-search"] = ("prune", bases[args.big].weights, search)
        plans[f"{args.big}-slim"] = ("slim", bases[args.big].weights, {})
        plans[f"{args.big}-slim-distill"] = ("slim", bases[args.big].weights, {"distill": True})
        plans[f"{args.big}-slim-samerate"] = ("prune", bases[args.big].weights, samerate)
        small_prune = {**depgraph, "target_prune_rate": args.small_rate}
        plans[f"{args.small}-depgraph"] = ("prune", bases[args.small].weights, small_prune)
        plans[f"{args.small}-scratch-total"] = ("train", None, args.base_epochs + budget)
        plans[f"{args.small}-scratch-extra"] = ("train", bases[args.small].weights, budget)
        plans[f"{args.small}-distill-extra"] = ("distill", bases[args.small].weights, budget)
        for spec in args.add_run:
            name, run_dir = spec.split("=", 1)
            row = added_run(name, Path(run_dir), small_onnx, args.runs)
            row.update(matched_rate=rate, seed=args.seed, base_epochs=args.base_epochs)
            (out / result_name(name, args.seed)).write_text(json.dumps(row, indent=2) + "\n")
        for name, (kind, weights, arg) in plans.items():
            if args.only and name not in args.only:
                continue
            project = tmp / name
            if kind == "prune":
                row = run_pruning(name, weights, data, arg, args, project, small_onnx)
            elif kind == "slim":
                row = run_slimming(name, weights, data, arg, args, project, small_onnx, tmp / "sparse")
            else:
                teacher = bases[args.big].weights if kind == "distill" else None
                row = run_training(name, f"{args.small}.yaml", data, arg, args, project, small_onnx, weights, teacher)
            base = bases[args.big if name.startswith(args.big) else args.small]
            row.update(base=Path(base.weights).parent.name, base_map50_95=base.map50_95, base_epochs=args.base_epochs,
                       matched_rate=rate, seed=args.seed)  # fmt: skip
            (out / result_name(name, args.seed)).write_text(json.dumps(row, indent=2) + "\n")
            print(row, flush=True)
            shutil.rmtree(project, ignore_errors=True)
        for model, base in bases.items():  # the two stock bases as points of their own
            onnx = to_onnx(load_detector(base.weights), tmp, f"{model}-base", args.imgsz)
            m = load_detector(base.weights)
            macs, params = count_macs_params(m, args.imgsz)
            metrics = evaluate_map(m, data, args.imgsz, args.batch, args.device, tmp / "val" / model)
            row = {"run": f"{model}-base", "settings": {}, "macs": macs, "params": params, **metrics,
                   "epochs_after_base": 0, "minutes": 0.0, "convergence": convergence(model, base, data, args, out),
                   **_latency(onnx, small_onnx, args.runs)}  # fmt: skip
            (out / f"{model}-base.json").write_text(json.dumps(row, indent=2) + "\n")
    print(table(args.tag))


if __name__ == "__main__":
    main()
