"""Read the user's detector and write ours, in the checkpoint format that ``ultralytics.YOLO(path)`` loads.

Usage:
    from yolo_prune.checkpoint import load_detector, save_checkpoint

    model = load_detector("best.pt")  # the fp32 model on the CPU; the file is only read
    model = load_detector("yolov8n.yaml", nc=3)  # built from scratch for a 3-class data set
    save_checkpoint("runs/prune/exp/weights/final.pt", model, train_args={"data": "data.yaml", "imgsz": 640})

Checkpoints hold the whole pickled module (Ultralytics' format), saved in fp32: what we evaluate is what we save.
They hold only torch and Ultralytics classes (C2f blocks folded back into their stock class), so stock Ultralytics
loads them without yolo-prune, also with ``ULTRALYTICS_SAFE_LOAD=1``, and ``model.yaml`` states the pruned widths
(``yolo_prune.structure.model_yaml``), so ``yolo train model=final.pt`` keeps the pruned model or says why it cannot.
"""

from __future__ import annotations

import copy
import datetime
from pathlib import Path
from typing import Any

import torch.nn as nn

import yolo_prune
from yolo_prune.errors import UserError
from yolo_prune.rundir import save_torch
from yolo_prune.structure import Task, require_task
from yolo_prune.structure.parts import leave
from yolo_prune.structure.tasks import task_named


def _yaml(source: str | Path) -> tuple[dict[str, Any], Task]:
    """A model yaml's contents and its task (the one gate refuses other tasks)."""
    from ultralytics.nn.tasks import guess_model_task, yaml_model_load

    try:  # also resolves Ultralytics' bundled names, e.g. yolov8n.yaml -> yolov8.yaml at scale n
        cfg = yaml_model_load(str(source))
    except Exception:
        raise UserError(f"model yaml not found or unreadable: {source}") from None
    return cfg, task_named(guess_model_task(cfg), source)


def yaml_task(source: str | Path) -> Task:
    """The task of the model a model yaml describes, or the UserError that refuses it."""
    return _yaml(source)[1]


def load_detector(source: str | Path, nc: int | None = None, data: dict[str, Any] | None = None) -> nn.Module:
    """An fp32 model of a task yolo-prune prunes, from a ``.pt`` checkpoint or an Ultralytics model yaml (``nc`` sets
    its class count, ``data``, a data set's info, what else its task reads from it, e.g. pose's ``kpt_shape``); a
    model of another task is refused here (``require_task``)."""
    from ultralytics.nn.tasks import load_checkpoint

    path = Path(source)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        cfg, task = _yaml(source)
        try:
            model = task.model_cls()(cfg, nc=nc, verbose=False, **(task.model_args(data) if data else {}))
        except Exception as e:
            raise UserError(f"cannot build a model from {source}: {e}") from None
        model.task = task.name
        return model
    if not path.exists():
        raise UserError(f"model not found: {path}")
    if not path.is_file():
        raise UserError(f"model is not a file: {path}")
    if suffix != ".pt":
        raise UserError(f"model must be a .pt checkpoint or a model .yaml, got {path.name}")
    try:
        model, _ = load_checkpoint(str(path))
    except ModuleNotFoundError as e:
        raise UserError(f"{path} needs the Python module {e.name!r}, which is not installed") from None
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path} is not a loadable Ultralytics checkpoint (corrupt or truncated?): {first}") from None
    require_task(model, path)
    try:  # checkpoints of yolo-prune 0.1 pickled its C2f_v2 blocks: give them back their stock C2f form
        leave(model)
    except ValueError as e:
        raise UserError(f"{path} holds C2f blocks pruned unevenly by yolo-prune 0.1 ({e}); prune its base again") from None
    return model.float().cpu().eval()


def save_checkpoint(path: str | Path, model: nn.Module, train_args: dict[str, Any], **meta: Any) -> Path:
    """Atomically save ``model`` (fp32, eval mode, stock classes only) so that ``YOLO(path)`` predicts, validates,
    exports and trains it; ``meta`` goes into the checkpoint's ``yolo_prune`` entry."""
    from yolo_prune.structure.model_yaml import stock_yaml

    model = copy.deepcopy(model).float().cpu().eval()
    leave(model)
    model.yaml, not_stated = stock_yaml(model)
    ckpt = {
        "date": datetime.datetime.now().isoformat(),
        "version": _ultralytics_version(),
        "model": model,
        "ema": None,
        "train_args": dict(train_args),
        "yolo_prune": {"version": yolo_prune.__version__, "yaml_rebuilds": not_stated is None,
                       "yaml_note": not_stated or "", **meta},  # fmt: skip
    }
    save_torch(Path(path), ckpt)
    return Path(path)


def _ultralytics_version() -> str:
    import ultralytics

    return ultralytics.__version__
