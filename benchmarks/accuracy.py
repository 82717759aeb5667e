"""Accuracy for compute: DepGraph pruning, network slimming and a narrower YOLOv8 trained from scratch, at about
the same MACs, on the generated data set and the demo's base model.

The from-scratch baseline is what pruning has to beat: a yolov8 yaml whose width multiplier is chosen so that its
MACs match the DepGraph result, trained for as many epochs as the pruned model has seen in total (the base model's
training plus all fine-tuning). Slimming gets the same fine-tuning budget as DepGraph, split between sparse
training and fine-tuning.

Usage:
    python benchmarks/accuracy.py --data DATA.yaml --model yolo11n --rates 0.3 0.5 --steps 4 --epochs 4
    python benchmarks/accuracy.py --base BASE.pt --data DATA.yaml --base-epochs 30 --rates 0.5 --methods depgraph
    python benchmarks/accuracy.py --table   # rebuild the table from the results written so far

Without ``--base``, the base model is ``--model``'s yaml trained by the demo's recipe (``train_base_model``, cached).
Each (model, method, rate) result is written to benchmarks/results/accuracy/<model>_<method>_<rate>.json as soon as
it is done, so the benchmark can run in parts; the table goes to benchmarks/results/accuracy.md. Results written
before the model was part of the name (``<method>_<rate>.json``) are yolov8n on an earlier base and yolo-prune 0.1's
width defaults; the table labels them so.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from common import save_table, training_options

import yolo_prune  # noqa: F401  (offline settings before Ultralytics)
from yolo_prune import prune
from yolo_prune.checkpoint import load_detector
from yolo_prune.checks import check_data
from yolo_prune.demo.base_model import RECIPE, train_base_model
from yolo_prune.evaluation import count_macs_params, evaluate_map
from yolo_prune.structure import TASKS

RESULTS = Path(__file__).parent / "results" / "accuracy"
EARLIER = "yolov8n (0.1)"  # the model label of results written before the model was part of the name


def narrow_yaml(target_macs: int, nc: int, imgsz: int, folder: Path) -> tuple[Path, float]:
    """A yolov8 yaml (depth of n) whose width multiplier gives the MACs closest to ``target_macs``."""
    from ultralytics.nn.tasks import yaml_model_load

    cfg = yaml_model_load("yolov8n.yaml")
    best = None
    for w in [x / 200 for x in range(10, 51)]:  # width 0.05 .. 0.25 (yolov8n is 0.25)
        cfg_w = {k: v for k, v in cfg.items() if k not in ("scale", "yaml_file")}
        cfg_w["scales"] = {"n": [0.33, w, 1024]}
        path = folder / f"yolov8-w{w:.3f}.yaml"
        path.write_text(yaml.safe_dump(cfg_w, sort_keys=False))
        macs = count_macs_params(load_detector(path, nc=nc), imgsz)[0]
        if best is None or abs(macs - target_macs) < abs(best[2] - target_macs):
            best = (path, w, macs)
    return best[0], best[1]


# Pruning variants: the method and the width settings that differ from yolo-prune's defaults.
VARIANTS = {
    "depgraph": {"method": "depgraph"},  # the defaults: round_to 8, widths a model yaml can state, head pruned
    "depgraph-free": {"method": "depgraph", "yaml_widths": False},  # round_to 8, widths free
    "depgraph-r1": {"method": "depgraph", "round_to": 1, "yaml_widths": False},  # exact shares (the old default)
    "depgraph-keephead": {"method": "depgraph", "prune_head": False, "yaml_widths": False},
    "slim": {"method": "slim"},
}


def run_pruning(variant: str, rate: float, args: argparse.Namespace, project: Path) -> dict:
    """One pruning variant (``VARIANTS``) with the same epoch budget: DepGraph as ``steps`` steps of ``epochs``
    epochs, slimming as one step with half the budget for sparse training and half for fine-tuning."""
    budget = args.steps * args.epochs
    settings = dict(VARIANTS[variant])
    if settings["method"] == "depgraph":
        settings.update(iterative_steps=args.steps, epochs=args.epochs)
    else:
        settings.update(iterative_steps=1, sparse_epochs=budget // 2, epochs=budget - budget // 2, sr=args.sr)
    start = time.time()
    result = prune(model=args.base, data=args.data, target_prune_rate=rate, max_map_drop=1.0, imgsz=args.imgsz,
                   batch=args.batch, workers=0, device="cpu", project=str(project), name=variant, latency_runs=20,
                   verbose=False, **settings)  # fmt: skip
    final = result.summary["final"]
    return {"model": args.model, "method": variant, "rate": rate, "macs": final["macs"], "params": final["params"],
            "map50_95": final["map50_95"], "map50": final["map50"], "epochs": args.base_epochs + budget,
            "latency_ms": final["latency"]["median_ms"], "speedup": result.summary["speedup"],
            "settings": settings, "minutes": (time.time() - start) / 60}  # fmt: skip


def run_scratch(rate: float, args: argparse.Namespace, project: Path) -> dict:
    from ultralytics import YOLO

    target = json.loads((RESULTS / f"{args.model}_depgraph_{rate}.json").read_text())["macs"]
    project.mkdir(parents=True, exist_ok=True)
    yaml_path, width = narrow_yaml(target, check_data(args.data, TASKS["detect"])["nc"], args.imgsz, project)
    epochs = args.base_epochs + args.steps * args.epochs
    start = time.time()
    recipe = {**RECIPE, "epochs": epochs, "imgsz": args.imgsz, "batch": args.batch}  # the base model's own recipe
    YOLO(str(yaml_path)).train(data=args.data, workers=0, device="cpu", plots=False, project=str(project),
                               name="scratch", verbose=False, **recipe)  # fmt: skip
    best = load_detector(project / "scratch" / "weights" / "best.pt")
    metrics = evaluate_map(best, args.data, args.imgsz, args.batch, "cpu", project / "val")
    macs, params = count_macs_params(best, args.imgsz)
    return {"model": args.model, "method": f"scratch (width {width:.3f})", "rate": rate, "macs": macs, "params": params, **metrics,
            "epochs": epochs, "minutes": (time.time() - start) / 60}  # fmt: skip


def table() -> str:
    rows = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    lines = [
        "| model | target rate | method | MACs | params | mAP50-95 | mAP50 | ONNX Runtime speed-up | total epochs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        r.setdefault("model", EARLIER)
    order = ["yolov8n", "yolo11n", "yolo26n", EARLIER]  # the families as the README lists them, the earlier run last
    for r in sorted(rows, key=lambda r: (order.index(r["model"]) if r["model"] in order else len(order) - 1.5,
                                         r["model"], r["rate"], r["method"] != "base", r["method"])):  # fmt: skip
        speedup = f"{r['speedup']:.2f}x" if r.get("speedup") else "-"
        lines.append(f"| {r['model']} | {r['rate']} | {r['method']} | {r['macs'] / 1e6:.1f} M | "
                     f"{r['params'] / 1e6:.2f} M | "
                     f"{r['map50_95']:.3f} | {r['map50']:.3f} | {speedup} | {r['epochs']} |")  # fmt: skip
    return save_table("accuracy", lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="yolov8n", help="the base model's yaml name, e.g. yolo11n (default yolov8n)")
    ap.add_argument("--base", help="the base model .pt (default: --model trained by the demo's recipe, cached)")
    ap.add_argument("--data", help="the demo's data.yaml")
    ap.add_argument("--base-epochs", type=int, default=RECIPE["epochs"], help="epochs the base model was trained for")
    ap.add_argument("--rates", type=float, nargs="+", default=[0.3, 0.5])
    ap.add_argument("--methods", nargs="+", default=["base", *VARIANTS, "scratch"],
                    help=f"base, scratch and pruning variants: {', '.join(VARIANTS)}")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs per step")
    ap.add_argument("--sr", type=float, default=1e-3)
    training_options(ap)
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.table:
        if not args.base:
            args.base = str(train_base_model(args.data, model=f"{args.model}.yaml", imgsz=args.imgsz).weights)
        with tempfile.TemporaryDirectory() as tmp:
            if "base" in args.methods:
                model = load_detector(args.base)
                macs, params = count_macs_params(model, args.imgsz)
                m = evaluate_map(model, args.data, args.imgsz, args.batch, "cpu", Path(tmp) / "val")
                (RESULTS / f"{args.model}_base.json").write_text(json.dumps({
                    "model": args.model, "method": "base", "rate": 0, "macs": macs, "params": params, **m,
                    "epochs": args.base_epochs}))  # fmt: skip
            for rate in args.rates:
                for method in (m for m in args.methods if m != "base"):
                    project = Path(tmp) / f"{method}_{rate}"
                    row = run_scratch(rate, args, project) if method == "scratch" else run_pruning(method, rate, args, project)
                    (RESULTS / f"{args.model}_{method}_{rate}.json").write_text(json.dumps(row, indent=2) + "\n")
                    print(row, flush=True)
                    shutil.rmtree(project, ignore_errors=True)
    print(table())


if __name__ == "__main__":
    main()
