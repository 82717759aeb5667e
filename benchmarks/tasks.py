"""Every task pruned on the demo data of that task: the task's own metric before and after, MACs, params and the
speed-up ONNX Runtime measures, for DepGraph at rate 0.5 and for a speed target.

For each case (a task and the model of one family: ``yolov8n-seg``, ``yolo11n-pose``, ``yolo26n-obb``,
``yolo11n-cls`` by default), the demo's generator writes that task's data set (cached in ``datasets/generated/``)
and the demo's recipe trains a base model on it from the bundled yaml (cached, ``yolo_prune.demo.base_model``);
then two yolo-prune runs start from that base, with the same steps and fine-tuning epochs: DepGraph at
``--rate`` and the speed target at ``--target``, with ``--max-map-drop 1`` so that each goes its whole way and the
table shows what that costs. Every timing is ONNX Runtime on the CPU with one thread, timed by its
CPU time (``--latency-threads 1``): steady on a machine shared with other work. The speed-ups are each run's own
measurement (base and final interleaved), so they come from two measurements per case.

Usage:
    python benchmarks/tasks.py                                   # the four default cases
    python benchmarks/tasks.py --cases segment:yolov8n pose:yolo26n --steps 4 --epochs 2
    python benchmarks/tasks.py --table                           # rebuild the table from the results so far

Each run's result goes to benchmarks/results/tasks/<task>-<model>-<method>.json as soon as it is done; the table to
benchmarks/results/tasks.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

from common import cores, save_table, training_options

import yolo_prune  # noqa: F401  (offline settings before Ultralytics)
from yolo_prune import prune
from yolo_prune.demo.base_model import train_base_model

RESULTS = Path(__file__).parent / "results" / "tasks"
CASES = ["segment:yolov8n", "pose:yolo11n", "obb:yolo26n", "classify:yolo11n"]
SUFFIX = {"detect": "", "segment": "-seg", "pose": "-pose", "obb": "-obb", "classify": "-cls"}


def task_data(task: str, root: Path, n_images: int, imgsz: int, seed: int = 0) -> Path:
    """The demo's data set of ``task`` (its data yaml, or for classification its folder), generated once into a folder
    named after its settings and reused."""
    folder = root / f"{task}-shapes-{n_images}x{imgsz}-3cls-seed{seed}"
    if not folder.is_dir():
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        if task == "classify":
            from yolo_prune.demo.classify import generate_class_folders

            generate_class_folders(partial, n_images, imgsz, 3, seed)
        else:
            from yolo_prune.demo.tasks import generate_task_dataset

            generate_task_dataset(partial, task, n_images, imgsz, 3, seed)
            yaml = partial / "data.yaml"
            yaml.write_text(yaml.read_text().replace(str(partial.resolve()), str(folder.resolve())))
        partial.rename(folder)
    return folder if task == "classify" else folder / "data.yaml"


def run_case(task: str, family: str, args: argparse.Namespace) -> None:
    data = task_data(task, Path(args.data_dir), n_images=args.images, imgsz=args.imgsz, seed=0)
    model = f"{family}{SUFFIX[task]}.yaml"
    base = train_base_model(data, args.cache_dir, model, imgsz=args.imgsz, epochs=args.base_epochs)
    common = dict(iterative_steps=args.steps, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, workers=0,
                  device="cpu", latency_threads=1, latency_runs=args.latency_runs, max_map_drop=args.max_map_drop,
                  verbose=False, **({"nbs": args.nbs, "scale": 0.25} if args.nbs else {}))  # fmt: skip
    runs = {"depgraph": {"target_prune_rate": args.rate}, "latency": {"target_speedup": args.target}}
    for method, settings in ((m, runs[m]) for m in args.methods):
        out = RESULTS / f"{task}-{family}-{method}{f'-nbs{args.nbs}' if args.nbs else ''}.json"
        if out.is_file():
            print(f"{out.name}: done before, kept", flush=True)
            continue
        started = time.time()
        with tempfile.TemporaryDirectory(prefix="bench-tasks-") as tmp:
            result = prune(model=str(base.weights), data=str(data), project=tmp, **settings, **common)
            summary = result.summary
        metrics = summary["metrics"]
        yardstick = next(iter(metrics))
        record = {
            "task": task, "model": model, "method": method, "settings": {**settings, **common},
            "metrics": metrics, "decides": yardstick,
            "base": {k: summary["base"][k] for k in ("macs", "params", *metrics)},
            "final": {k: summary["final"][k] for k in ("macs", "params", *metrics)},
            "onnx": {n: summary[n][f"onnx_{yardstick}"] for n in ("base", "final")},
            "speedup": summary["speedup"], "macs_ratio": summary["macs_ratio"], "rate": summary["rate"],
            "steps_kept": summary["final_step"], "rejected": summary["rejected"],
            "latency_ms": {n: (summary[n]["latency"] or {}).get("median_ms") for n in ("base", "final")},
            "speed_target": summary.get("speed_target"), "base_training_s": base.seconds,
            "seconds": round(time.time() - started, 1), "cores": cores(), "cpu": platform.processor() or "",
        }  # fmt: skip
        RESULTS.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=1) + "\n")
        print(f"{out.name}: {metrics[yardstick]} {record['base'][yardstick]:.3f} -> {record['final'][yardstick]:.3f}, "
              f"{record['speedup']:.2f}x measured, {record['macs_ratio']:.2f}x fewer MACs", flush=True)  # fmt: skip


def table() -> str:
    lines = [
        "| task | model | method | deciding metric | base | final | other metrics (base -> final) | MACs ratio | "
        "params | speed-up (ONNX Runtime, 1 thread) | steps kept | fine-tuning epochs | run time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(RESULTS.glob("*.json")):
        r = json.loads(path.read_text())
        y, metrics = r["decides"], r["metrics"]
        others = "; ".join(f"{metrics[m]} {r['base'][m]:.3f} -> {r['final'][m]:.3f}" for m in metrics if m != y)
        how = (f"rate {r['settings']['target_prune_rate']}" if r["method"] == "depgraph"
               else f"target {r['settings']['target_speedup']}x")  # fmt: skip
        how += f", nbs {r['settings']['nbs']}" if "nbs" in r["settings"] else ""
        steps, epochs = r["settings"]["iterative_steps"], r["settings"]["epochs"]
        lines.append(
            f"| {r['task']} | {r['model']} | {r['method']} ({how}) | {metrics[y]} | {r['base'][y]:.3f} | "
            f"{r['final'][y]:.3f} | {others or '-'} | {r['macs_ratio']:.2f}x | "
            f"{r['base']['params'] / 1e6:.2f} M -> {r['final']['params'] / 1e6:.2f} M | "
            f"{r['speedup']:.2f}x ({r['latency_ms']['base']:.2f} -> {r['latency_ms']['final']:.2f} ms) | "
            f"{r['steps_kept']} of {steps} | {r['steps_kept'] * epochs} | {r['seconds'] / 60:.0f} min |"
        )
    return save_table("tasks", lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="+", default=CASES, help="task:family pairs (default: %(default)s)")
    ap.add_argument("--rate", type=float, default=0.5, help="DepGraph's target prune rate")
    ap.add_argument("--target", type=float, default=1.5, help="the speed target's speed-up")
    ap.add_argument("--steps", type=int, default=4, help="prune + fine-tune steps of each run")
    ap.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs per step")
    ap.add_argument("--images", type=int, default=400, help="images in each task's demo data set")
    ap.add_argument("--base-epochs", type=int, default=25, help="epochs of the base model's training")
    ap.add_argument("--latency-runs", type=int, default=30, help="timing runs per model")
    ap.add_argument("--max-map-drop", type=float, default=1.0,
                    help="yolo-prune's early stop (default 1: every run goes its whole way, to show what it costs)")
    ap.add_argument("--methods", nargs="+", default=["depgraph", "latency"], choices=["depgraph", "latency"])
    ap.add_argument("--nbs", type=int, help="fine-tune with the demo's settings: this nominal batch size, scale 0.25")
    ap.add_argument("--data-dir", default="datasets/generated", help="where the demo data sets are cached")
    ap.add_argument("--cache-dir", default=".cache/base-models", help="where the base models are cached")
    training_options(ap)
    args = ap.parse_args()
    if not args.table:
        for case in args.cases:
            task, family = case.split(":")
            run_case(task, family, args)
    print(table())


if __name__ == "__main__":
    main()
