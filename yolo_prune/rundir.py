"""The run directory: its layout (every file name a run writes or reads back), a fresh folder per run, files written
atomically, and the step log that resume reads back.

Usage:
    from yolo_prune.rundir import STEPS_FILE, SUMMARY_FILE, StepLog, new_run_dir, read_json, read_steps

    run = new_run_dir("runs/prune", "exp")  # runs/prune/exp, exp2, ... never an existing one
    log = StepLog(run, {"map50_95": "mAP50-95", "map50": "mAP50"})  # the run's metrics, the deciding one first
    log.append({"step": 0, "phase": "base", ...})  # rewrites steps.json and steps.csv atomically
    rows = read_steps(run / STEPS_FILE)  # what resume reads back; a damaged file is a UserError naming it
    summary = read_json(run / SUMMARY_FILE, optional=True)  # None until the run has finished

CLI (a run directory is what these write and read):
    yolo-prune --model best.pt --data data.yaml --name exp
    yolo-prune --resume runs/prune/exp
    yolo-prune --report runs/prune/exp

Every file goes through a temporary file and ``os.replace``, so a kill at any moment leaves either the old or the
new file, never half of one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import yaml

from yolo_prune.errors import UserError

# The run directory's layout. Written by the loop and the methods, read back by resume and the report.
SETTINGS_FILE = "settings.yaml"  # the resolved settings, the command line, the package versions and METRICS_KEY
INPUTS_FILE = "inputs.json"  # what the run reads from outside (data set fingerprint, teacher): checked on resume
STEPS_FILE, STEPS_CSV_FILE = "steps.json", "steps.csv"  # the step log (step_columns), as JSON and as CSV
LAYERS_FILE = "layers.json"  # output width per conv layer: base, final, and those the head fixes
SUMMARY_FILE = "summary.json"  # base vs final, written when the run finishes
REPORT_MD_FILE, REPORT_HTML_FILE = "report.md", "report.html"
PLOTS_DIR = "plots"  # <name>.png, each with <name>.json holding the series drawn
WEIGHTS_DIR = "weights"  # base.pt, step_NN.pt of each kept step, final.pt, and the ONNX exports beside them


def checkpoint_file(name: str) -> str:
    """Where the run keeps checkpoint ``name`` (``base``, ``step_NN``, ``final``), relative to the run directory."""
    return f"{WEIGHTS_DIR}/{name}.pt"

DATASET_DIR = "dataset"  # the run's read-only view of the user's data set (``checks.data_view``)
INT8_DIR = f"{WEIGHTS_DIR}/int8"  # --int8: base and final quantized for the latency provider
VAL_DIR, FINETUNE_DIR, SPARSE_DIR = "val", "finetune", "sparse"  # Ultralytics' validation and training folders
SPEED_TARGET_FILE = "speed_target.json"  # a speed target: the target, the floor, each step's measured speed-up
LATENCY_TABLE_FILE = "latency_table.json"  # a speed target: per step, what halving each layer saves and costs
LATENCY_MODEL_FILE = "latency_model.json"  # a speed target: what each layer's width costs, built once, and its fit
SPARSITY_FILE = "sparsity.csv"  # slimming: per sparse-training epoch, the penalty and the gammas' sparsity
SPARSE_FILE = "sparse.json"  # slimming: which sparse-trained checkpoint was pruned
SUPERNET_DIR = "supernet"  # search: the supernet's training folder (its checkpoint: weights/supernet.pt)
SEARCH_FILE = "search.json"  # search: the searched layers and widths, channel ranks, each generation, each choice
SEARCH_DIR = "search"  # search: the validation subset candidates are scored on, and their validation folder
GAMMA_FILES = {"before": "gamma_before.npy", "after": "gamma_after.npy"}  # slimming: |gamma| around sparse training

METRICS_KEY = "metrics"  # in SETTINGS_FILE: the task's metrics, our name -> label, the first deciding
DEFAULT_METRICS = {"map50_95": "mAP50-95", "map50": "mAP50"}
"""The metrics of a run whose settings file names none: detection's, the one task before there were others."""


def run_metrics(settings: dict[str, Any]) -> dict[str, str]:
    """The metrics a run is judged by (our name -> label, the deciding one first), from its settings file's."""
    metrics = settings.get(METRICS_KEY)
    return dict(metrics) if isinstance(metrics, dict) and metrics else dict(DEFAULT_METRICS)


def step_columns(metrics: dict[str, str] | None = None) -> tuple[str, ...]:
    """The step log's columns for a run judged by ``metrics`` (default ``DEFAULT_METRICS``): each metric right after
    pruning (``<name>_pruned``) and after fine-tuning, and ``map_drop``, the deciding metric's drop from the base."""
    names = list(metrics or DEFAULT_METRICS)
    return (
        "step", "phase", "target_rate", "rate", "macs", "params", "macs_ratio", "params_ratio",
        *(f"{m}_pruned" for m in names), *names, "map_drop", "seconds", "status", "checkpoint",
    )  # fmt: skip


_UMASK = os.umask(0)
os.umask(_UMASK)


def new_run_dir(project: str | Path, name: str) -> Path:
    """Create ``project/name``, or ``name2``, ``name3``... like Ultralytics, so no earlier run is ever overwritten."""
    parent = Path(project)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for i in range(1, 10_000):
            path = parent / (name if i == 1 else f"{name}{i}")
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
    except OSError as e:
        raise UserError(f"cannot write the run directory under {parent}: {e.strerror or e}") from None
    raise UserError(f"too many runs named {name!r} in {parent}; choose another --name")


def _atomic(path: Path, write: Callable[[Any], None], mode: str = "w") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes owner-only files; outputs get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text``."""
    _atomic(Path(path), lambda f: f.write(text))


def write_bytes(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``."""
    _atomic(Path(path), lambda f: f.write(data), mode="wb")


def write_npy(path: Path, array: np.ndarray) -> None:
    """Atomically replace ``path`` with ``array`` in NumPy's .npy format."""
    buf = io.BytesIO()
    np.save(buf, array)
    write_bytes(path, buf.getvalue())


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_yaml(path: Path, data: dict) -> None:
    """Atomically replace ``path`` with ``data`` as YAML; non-ASCII (paths, class names) stays readable, not escaped."""
    write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def save_torch(path: Path, obj: Any) -> None:
    """Atomically ``torch.save`` a checkpoint (a killed save must not leave a truncated .pt behind)."""
    _atomic(Path(path), lambda f: torch.save(obj, f), mode="wb")


def read_json(path: Path, what: str = "", optional: bool = False) -> Any:
    """A JSON file the run wrote; a damaged one (truncated, edited, unreadable) is named in a UserError. With
    ``optional``, a file that is not there is None (a run writes some files only for some methods, or at its end)."""
    if optional and not Path(path).is_file():
        return None
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"cannot read {path}{what}: {str(e).splitlines()[0]}") from None


def read_steps(path: Path, metrics: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The step log as written by ``StepLog``: a list of rows with every column for ``metrics``, the first the base
    model."""
    rows = read_json(path, " (the step log)")
    columns = step_columns(metrics)
    if not isinstance(rows, list) or not all(isinstance(r, dict) and set(columns) <= set(r) for r in rows):
        raise UserError(f"{path} is not a yolo-prune step log: expected a list of rows with {', '.join(columns)}")
    if rows and rows[0]["phase"] != "base":
        raise UserError(f"{path} does not start with the base model's row")
    return rows


class StepLog:
    """One row per finished step, mirrored to ``steps.json`` (read back on resume) and ``steps.csv``."""

    def __init__(self, run_dir: Path, metrics: dict[str, str]) -> None:
        self.json_path = Path(run_dir) / STEPS_FILE
        self.csv_path = Path(run_dir) / STEPS_CSV_FILE
        self.columns = step_columns(metrics)
        self.rows: list[dict[str, Any]] = read_steps(self.json_path, metrics) if self.json_path.exists() else []

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append({k: row.get(k) for k in self.columns})
        self._flush()

    def _flush(self) -> None:
        write_json(self.json_path, self.rows)
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns)
        w.writeheader()
        w.writerows(self.rows)
        write_text(self.csv_path, buf.getvalue())
