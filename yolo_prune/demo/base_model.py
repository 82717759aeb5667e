"""A model trained from scratch on a data set and cached: the demo's stand-in for downloaded pretrained weights.

Nothing may be downloaded at run time, so the demo trains ``yolov8n.yaml`` (or its ``-seg``, ``-pose``, ``-obb``,
``-cls`` sibling) on the generated shapes with plain Ultralytics training (``YOLO(cfg).train(...)``); the model's task
(``TASKS``) names the metrics measured on the val split, the deciding one first. Training takes minutes, so the
checkpoint is cached under a key made of the data set's content, the model yaml, the recipe and the Ultralytics
version: a second call returns it at once, and any change to the data, the recipe or Ultralytics trains again. The
generator is deterministic, so a regenerated identical data set still hits the cache.

Usage:
    from yolo_prune.demo.base_model import train_base_model

    base = train_base_model("datasets/generated/shapes/yolo/data.yaml", cache_dir=".cache/base-models")
    print(base.weights, base.map50_95, base.seconds, base.cached)  # weights is ready for `yolo-prune --model`
    seg = train_base_model("datasets/generated/shapes-seg/data.yaml", model="yolov8n-seg.yaml")
    print(seg.task, seg.metrics)  # segment {"mask_map50_95": ..., "mask_map50": ..., "box_map50_95": ...}

CLI (progress on stderr, the checkpoint's path alone on stdout, so that scripts can capture it):
    python -m yolo_prune.demo.base_model --data datasets/generated/shapes/yolo/data.yaml --cache-dir .cache/base-models
    python -m yolo_prune.demo.base_model --data datasets/generated/shapes-cls --model yolov8n-cls.yaml  # class folders
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from yolo_prune.errors import UserError

# Gives mAP50-95 0.82 and 0.76 (seeds 0 and 1) on the demo's shapes (400 images, 128 px) in about 2-3 minutes on 2
# CPU cores. Three changes from Ultralytics' defaults matter: nbs=16 (nominal batch size), so that every batch of 16
# is an optimizer step instead of every 4th (accumulating to 64 leaves 5 steps per epoch of 320 images); no mosaic,
# and scale 0.25 instead of 0.5, because these large, plain objects need little augmentation and a from-scratch
# yolov8n learns them several times faster without it. Fewer epochs leave no margin: the epoch at which the model
# starts to detect anything varies with the seed, and 20 epochs gave 0.56-0.61. optimizer "auto" picks AdamW with a
# learning rate fitted to the class count and a bias warm-up from 0 (an explicit optimizer would warm biases from 0.1).
RECIPE: dict[str, Any] = {
    "epochs": 25,
    "imgsz": 128,
    "batch": 16,
    "nbs": 16,
    "mosaic": 0.0,
    "scale": 0.25,
    "warmup_epochs": 1,
    "seed": 0,
}
# Settings that change how fast training runs, not what it learns: left out of the cache key.
_NOT_IN_KEY = ("device", "workers")
_FIXED = {"plots": False, "val": False, "exist_ok": True, "verbose": False}


@dataclass
class BaseModel:
    """A trained checkpoint with its task's validation metrics (``TASKS[task].metrics``' names, the deciding one
    first) and the training time measured when it was trained."""

    weights: Path
    metrics: dict[str, float]
    seconds: float
    cached: bool
    recipe: dict[str, Any]
    task: str = "detect"

    @property
    def map50_95(self) -> float:
        """A detector's mAP50-95 (the benchmarks' name for it)."""
        return self.metrics["map50_95"]

    @property
    def map50(self) -> float:
        return self.metrics["map50"]


def data_fingerprint(data_yaml: str | Path) -> str:
    """SHA-256 of a data set's classes, splits and every file under its root, so that any change retrains.

    Ultralytics' own ``*.cache`` label caches and the yaml's absolute ``path`` are left out: neither changes what
    the model learns, and both differ between two checkouts of the same data. A classification data set is a folder
    (``train/<class>/``, ``val/<class>/``) without a yaml: every file under it counts.
    """
    yaml_path = Path(data_yaml)
    if yaml_path.is_dir():
        return _files_digest(hashlib.sha256(b"folder"), yaml_path, skip=None)
    if not yaml_path.is_file():
        raise UserError(f"data yaml not found: {yaml_path}")
    data = yaml.safe_load(yaml_path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise UserError(f"{yaml_path} is not a data set yaml (expected `key: value` lines)")
    root = Path(data.get("path") or yaml_path.parent)
    root = root if root.is_absolute() else yaml_path.parent / root
    if not root.is_dir():
        raise UserError(f"{yaml_path}: its data set folder {root} does not exist")
    h = hashlib.sha256(json.dumps({k: v for k, v in data.items() if k != "path"}, sort_keys=True, default=str).encode())
    return _files_digest(h, root, skip=yaml_path.resolve())  # the yaml is hashed above, without its `path`


def _files_digest(h: Any, root: Path, skip: Path | None) -> str:
    """``h`` updated with the relative path and content of every file under ``root`` but ``skip`` and label caches."""
    for f in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".cache" and p.resolve() != skip):
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def cache_key(data_yaml: str | Path, model: str, recipe: dict[str, Any]) -> str:
    """Short hash of everything that decides the trained weights."""
    import ultralytics

    key = {
        "data": data_fingerprint(data_yaml),
        "model": model,
        "recipe": {k: v for k, v in recipe.items() if k not in _NOT_IN_KEY},
        "ultralytics": ultralytics.__version__,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def train_base_model(
    data: str | Path,
    cache_dir: str | Path = ".cache/base-models",
    model: str = "yolov8n.yaml",
    device: str = "cpu",
    workers: int = 0,
    **recipe: Any,
) -> BaseModel:
    """Return the cached checkpoint for ``data`` and this recipe (``RECIPE`` updated by ``recipe``), training it first
    when there is none. An interrupted training leaves no cache entry, so the next call starts it over."""
    recipe = {**RECIPE, **recipe}
    entry = Path(cache_dir).resolve() / cache_key(data, model, recipe)
    weights, info = entry / "base.pt", entry / "base.json"
    if weights.is_file() and info.is_file():
        saved = json.loads(info.read_text())
        if "metrics" not in saved:  # an entry written before metrics were named by task: a detector's two
            saved["metrics"] = {k: saved.pop(k) for k in ("map50_95", "map50")}
        return BaseModel(**{**saved, "weights": weights, "cached": True})
    shutil.rmtree(entry, ignore_errors=True)
    from ultralytics import YOLO

    from yolo_prune.structure.tasks import TASKS

    yolo = YOLO(model)  # a pose model takes its kpt_shape from the data set as its trainer builds it
    yolo.add_callback("on_train_epoch_end", _print_epoch)
    started = time.time()
    with _quiet_ultralytics():
        metrics = yolo.train(data=str(data), device=device, workers=workers, project=str(entry), name="train",
                             **recipe, **_FIXED)  # fmt: skip
    result = BaseModel(weights, TASKS[yolo.task].scores(metrics.results_dict), round(time.time() - started, 1),
                       cached=False, recipe=recipe, task=yolo.task)  # fmt: skip
    info.write_text(json.dumps({k: v for k, v in asdict(result).items() if k not in ("weights", "cached")}, indent=2))
    tmp = weights.with_suffix(".pt.tmp")
    shutil.copyfile(yolo.trainer.best, tmp)
    os.replace(tmp, weights)  # last: its presence marks a complete entry
    return result


def _print_epoch(trainer: Any) -> None:
    """One short line per epoch instead of Ultralytics' progress bars, which quiet mode turns off."""
    losses = "  ".join(f"{k.split('/')[-1]} {v:.3f}" for k, v in trainer.label_loss_items(trainer.tloss).items())
    print(f"  epoch {trainer.epoch + 1}/{trainer.epochs}  {losses}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _quiet_ultralytics() -> Iterator[None]:
    """Only Ultralytics' warnings, without its progress bars (disabled above INFO): the epoch lines replace them."""
    from ultralytics.utils import LOGGER

    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)
    try:
        yield
    finally:
        LOGGER.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for a user error)."""
    parser = argparse.ArgumentParser(
        prog="python -m yolo_prune.demo.base_model",
        description="Train a model from its yaml on a data set, or reuse the cached one; print its path.",
    )
    parser.add_argument("--data", required=True, help="data set yaml in Ultralytics' format, or a class-folder root")
    parser.add_argument("--cache-dir", default=".cache/base-models", help="cache folder (default: .cache/base-models)")
    parser.add_argument("--model", default="yolov8n.yaml", help="model yaml to build from (default: yolov8n.yaml)")
    parser.add_argument("--device", default="cpu", help="training device (default: cpu)")
    for key in ("epochs", "imgsz", "batch"):
        parser.add_argument(f"--{key}", type=int, default=RECIPE[key], help=f"(default: {RECIPE[key]})")
    args = parser.parse_args(argv)
    try:  # stdout is for the path alone; Ultralytics' logger, when first imported here, binds to stderr for good
        with contextlib.redirect_stdout(sys.stderr):
            base = train_base_model(args.data, args.cache_dir, args.model, args.device,
                                    epochs=args.epochs, imgsz=args.imgsz, batch=args.batch)  # fmt: skip
    except UserError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    from yolo_prune.structure.tasks import TASKS

    how = "cached, trained" if base.cached else "trained"
    task = TASKS[base.task]
    scores = ", ".join(f"{task.metric_labels[name]} {value:.3f}" + (" (decides)" if name == task.yardstick else "")
                       for name, value in base.metrics.items())  # fmt: skip
    print(f"base model: {scores} on the val split ({how} in {base.seconds:.0f} s)", file=sys.stderr)
    print(base.weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
