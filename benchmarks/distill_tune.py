"""How to distill a pruned model from its base: the loss, weight and warm-up compared on one cut.

The base model is cut once (DepGraph, ``--rate``), then the same pruned model is fine-tuned for ``--epochs`` epochs
with each variant, same seed, same data order:

- ``plain``: Ultralytics' detection loss alone (what fine-tuning does without ``--distill``);
- ``feat-dis<W>[-ramp<N>]``: Ultralytics' own distillation (``distill_model=base.pt``, ``dis=W``): a feature loss on
  the neck levels through freshly initialised projectors, teacher-score weighted; ``ramp<N>`` raises ``dis`` from 0
  to W over the first N epochs;
- ``head-w<W>[-ramp<N>]``: yolo-prune's head distillation (``yolo_prune.distill``): class-score KL to the teacher's
  sigmoid scores plus box-distribution KL, weight W, ramped over the first N epochs.

A ``-seed<S>`` suffix trains with another seed (default 0): the spread between seeds is the noise to compare with.

Usage:
    python benchmarks/distill_tune.py --base BASE.pt --data DATA.yaml --rate 0.5 --epochs 4 \
        --variants plain feat-dis6 feat-dis1-ramp1 head-w1-ramp1
    python benchmarks/distill_tune.py --table

Each variant's result goes to benchmarks/results/distill_tune/<rate>_<variant>.json as soon as it is done; the table
to benchmarks/results/distill_tune.md.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import re
import tempfile
import time
from pathlib import Path

from common import save_table, training_options

import yolo_prune  # noqa: F401  (offline settings before Ultralytics)
from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.distill import DistillTrainer
from yolo_prune.evaluation import count_macs_params, evaluate_map, layer_widths
from yolo_prune.methods import make_method
from yolo_prune.settings import resolve_settings
from yolo_prune.structure import ModelAdapter
from yolo_prune.training import finetune

RESULTS = Path(__file__).parent / "results" / "distill_tune"
VARIANT = re.compile(r"^(plain|feat-dis([\d.]+)|head-w([\d.]+))(?:-ramp([\d.]+))?(?:-seed(\d+))?$")


class DisRamp:
    """``on_train_batch_start`` callback raising Ultralytics' ``dis`` from 0 to ``weight`` over ``epochs`` epochs."""

    def __init__(self, weight: float, epochs: float) -> None:
        self.weight, self.epochs, self.seen = weight, epochs, 0

    def __call__(self, trainer) -> None:
        from ultralytics.utils.torch_utils import unwrap_model

        batches = self.epochs * len(trainer.train_loader)
        unwrap_model(trainer.model).dis = self.weight * min(1.0, self.seen / batches)
        self.seen += 1


def train_args(args: argparse.Namespace) -> dict:
    return {"epochs": args.epochs, "imgsz": args.imgsz, "batch": args.batch, "workers": 0, "device": "cpu",
            "seed": 0, "nbs": args.batch, "scale": 0.25, "plots": False, "verbose": False}  # fmt: skip


def run_variant(variant: str, pruned, args: argparse.Namespace, folder: Path) -> dict:
    kind, feat_w, head_w, ramp, seed = VARIANT.match(variant).groups()
    ramp = float(ramp or 0)
    targs, extra = {**train_args(args), "seed": int(seed or 0)}, {}
    if kind.startswith("feat"):
        targs.update(distill_model=str(Path(args.base).absolute()), dis=float(feat_w))
        if ramp:
            extra["callbacks"] = {"on_train_batch_start": DisRamp(float(feat_w), ramp)}
    elif kind.startswith("head"):
        extra.update(trainer_cls=DistillTrainer,
                     distill={"teacher": str(Path(args.base).absolute()), "weight": float(head_w),
                             "warmup": ramp})
    start = time.time()
    tuned = finetune(copy.deepcopy(pruned), args.data, targs, folder / variant, weights="last", **extra)
    minutes = (time.time() - start) / 60
    metrics = evaluate_map(tuned, args.data, args.imgsz, args.batch, "cpu", folder / "val" / variant)
    with open(folder / variant / "results.csv") as f:
        epochs = [{k.strip(): v for k, v in row.items()} for row in csv.DictReader(f)]
    losses = {k: [round(float(e[k]), 4) for e in epochs] for k in epochs[0] if k.startswith("train/")}
    return {"variant": variant, "rate": args.rate, "epochs": args.epochs, **metrics, "minutes": minutes,
            "train_losses": losses}  # fmt: skip


def table() -> str:
    rows = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    lines = ["| rate | variant | mAP50-95 | mAP50 | train losses per epoch (box, cls, dfl, distillation) | minutes |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for r in sorted(rows, key=lambda r: (r["rate"], r["variant"] != "pruned", r["variant"] != "plain", r["variant"])):
        losses = r.get("train_losses") or {}
        per_epoch = list(zip(*losses.values())) if losses else []
        text = "; ".join(", ".join(f"{v:.2f}" for v in epoch) for epoch in per_epoch)
        lines.append(f"| {r['rate']} | {r['variant']} | {r['map50_95']:.3f} | {r['map50']:.3f} | {text} | "
                     f"{r.get('minutes', 0):.1f} |")  # fmt: skip
    return save_table("distill_tune", lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", help="the demo's base model .pt (the teacher)")
    ap.add_argument("--data", help="the demo's data.yaml")
    ap.add_argument("--rate", type=float, default=0.5, help="one DepGraph cut to this rate")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--variants", nargs="+", default=["plain", "feat-dis6", "head-w1-ramp1"])
    training_options(ap)
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.table:
        base = load_detector(args.base)
        pruned = copy.deepcopy(base)
        settings = resolve_settings(overrides={"target_prune_rate": args.rate})
        make_method(settings, ModelAdapter.of(pruned, args.base)).prune(pruned, 1, 1, layer_widths(base), args.imgsz)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            out = RESULTS / f"{args.rate}_pruned.json"
            if not out.exists():
                m = evaluate_map(pruned, args.data, args.imgsz, args.batch, "cpu", folder / "val" / "pruned")
                macs, params = count_macs_params(pruned, args.imgsz)
                out.write_text(json.dumps({"variant": "pruned", "rate": args.rate, **m, "macs": macs,
                                           "params": params}, indent=2) + "\n")  # fmt: skip
            save_checkpoint(folder / "pruned.pt", pruned, {})
            for variant in args.variants:
                row = run_variant(variant, pruned, args, folder)
                (RESULTS / f"{args.rate}_{variant}.json").write_text(json.dumps(row, indent=2) + "\n")
                print({k: v for k, v in row.items() if k != "train_losses"}, flush=True)
    print(table())


if __name__ == "__main__":
    main()
