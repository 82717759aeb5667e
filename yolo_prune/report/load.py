"""Reading a run directory for the report: the step log (the one file a report needs), and whichever of the
settings, widths, summary and slimming files are there.

Usage:
    from yolo_prune.report.load import load_run, step_series

    run = load_run("runs/prune/exp")  # dir, settings, rows, layers, summary, sparsity, gamma_before, gamma_after
    series = step_series(run["rows"])  # {"step": [0.0, 1.0, ...], "map50_95": [...], "status": ["kept", ...], ...}

CLI (the report, which reads the run directory this way):
    yolo-prune --report runs/prune/exp
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from yolo_prune.errors import UserError
from yolo_prune.rundir import (
    GAMMA_FILES, LAYERS_FILE, SEARCH_FILE, SETTINGS_FILE, SPARSITY_FILE, STEPS_FILE, SUMMARY_FILE, read_json,
    step_columns,
)  # fmt: skip

_TEXT_KEYS = ("phase", "status", "checkpoint")


def load_steps(run_dir: str | Path) -> list[dict]:
    """Rows of ``steps.json``; the one file a report cannot do without, so its absence is the user's error."""
    run = Path(run_dir)
    if not run.is_dir():
        raise UserError(f"run directory {run} does not exist")
    path = run / STEPS_FILE
    if not path.is_file():
        raise UserError(f"{run} has no {STEPS_FILE}: not a yolo-prune run directory, or no step has finished yet")
    rows = read_json(path)
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UserError(f"{path} is not a JSON list of step rows")
    if not rows:
        raise UserError(f"{path} lists no finished step yet: nothing to report")
    return rows


def load_run(run_dir: str | Path) -> dict[str, Any]:
    """Everything a report can use from a run directory; optional files that are missing come back as None."""
    run = Path(run_dir)
    rows = load_steps(run)
    settings: dict = {}
    if (run / SETTINGS_FILE).is_file():
        try:
            settings = yaml.safe_load((run / SETTINGS_FILE).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise UserError(f"cannot read {run / SETTINGS_FILE}: {e}") from None
    layers = read_json(run / LAYERS_FILE, optional=True)
    summary = read_json(run / SUMMARY_FILE, optional=True)
    sparsity = None
    if (run / SPARSITY_FILE).is_file():
        with open(run / SPARSITY_FILE, newline="", encoding="utf-8") as f:
            sparsity = [{k: num(v) for k, v in r.items()} for r in csv.DictReader(f)]
    gammas = {}
    for when, name in GAMMA_FILES.items():
        path = run / name
        try:
            gammas[when] = np.load(path).astype(np.float64).ravel() if path.is_file() else None
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read {path}: {e}") from None
    return {
        "dir": run,
        "settings": settings if isinstance(settings, dict) else {},
        "rows": rows,
        "layers": layers,
        "summary": summary,
        "sparsity": sparsity or None,
        "gamma_before": gammas["before"],
        "gamma_after": gammas["after"],
        "search": read_json(run / SEARCH_FILE, optional=True),
    }


def num(v: Any) -> float:
    """A logged number as float, NaN for a missing one, so that plots show a gap instead of failing."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def step_series(rows: Sequence[dict], metrics: dict[str, str] | None = None) -> dict[str, list]:
    """Column lists of the step log of a run judged by ``metrics`` (``run_metrics``) in row order: the one source
    the step plots draw from (and tests check)."""
    columns = step_columns(metrics)
    return {k: [str(r.get(k) or "") if k in _TEXT_KEYS else num(r.get(k)) for r in rows] for k in columns}

