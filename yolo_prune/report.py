"""Plots and reports for a pruning run directory: did it get faster, and what did it cost?

Everything here only reads the files the pipeline writes into a run directory (``settings.yaml``, ``steps.json``,
``layers.json``, ``summary.json``, ``sparsity.csv``, ``gamma_before.npy``, ``gamma_after.npy``, and the sizes of
the checkpoints in ``weights/``) and writes
``plots/*.png`` (each with a ``plots/<name>.json`` holding the exact series drawn), ``report.md`` and a
self-contained ``report.html``. It works on a finished run and on an interrupted one (only some files present), and
regenerating from the same directory gives byte-identical files.

Usage:
    from yolo_prune.report import plot_steps, write_report, format_summary_table

    plot_steps("runs/prune/exp")               # {"map_vs_step": Path(".../plots/map_vs_step.png"), ...}
    md, html = write_report("runs/prune/exp")  # regenerates the plots, then report.md and report.html
    print(format_summary_table(summary))       # base-vs-final table for the terminal

CLI:
    python -m yolo_prune.report runs/prune/exp
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import io
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml
from matplotlib import style as mpl_style
from matplotlib.figure import Figure

from yolo_prune.errors import UserError
from yolo_prune.rundir import write_bytes, write_text
from yolo_prune.speed_report import speed_blocks

PLOTS_DIR = "plots"
STEP_KEYS = (
    "step", "phase", "target_rate", "rate", "macs", "params", "macs_ratio", "params_ratio", "map50_95_pruned",
    "map50_pruned", "map50_95", "map50", "map_drop", "seconds", "status", "checkpoint",
)  # fmt: skip
_TEXT_KEYS = ("phase", "status", "checkpoint")
# PNG text chunks matplotlib adds by default; dropping them keeps regenerated files byte-identical.
_PNG_METADATA = {"Software": None}
_DPI = 100
_KEPT_STYLE = {"color": "tab:blue"}
_REJECTED_STYLE = {"color": "tab:red", "linestyle": "none", "markersize": 9, "markeredgewidth": 2}
NA = "n/a"
ONNX_FLAG = "ONNX GAP EXCEEDS TOLERANCE"


# ----------------------------------------------------------------------------------------------------------- reading


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path}: {e}") from None


def load_steps(run_dir: str | Path) -> list[dict]:
    """Rows of ``steps.json``; the one file a report cannot do without, so its absence is the user's error."""
    run = Path(run_dir)
    if not run.is_dir():
        raise UserError(f"run directory {run} does not exist")
    path = run / "steps.json"
    if not path.is_file():
        raise UserError(f"{run} has no steps.json: not a yolo-prune run directory, or no step has finished yet")
    rows = _read_json(path)
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
    if (run / "settings.yaml").is_file():
        try:
            settings = yaml.safe_load((run / "settings.yaml").read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise UserError(f"cannot read {run / 'settings.yaml'}: {e}") from None
    layers = _read_json(run / "layers.json") if (run / "layers.json").is_file() else None
    summary = _read_json(run / "summary.json") if (run / "summary.json").is_file() else None
    sparsity = None
    if (run / "sparsity.csv").is_file():
        with open(run / "sparsity.csv", newline="", encoding="utf-8") as f:
            sparsity = [{k: _num(v) for k, v in r.items()} for r in csv.DictReader(f)]
    gammas = {}
    for when in ("before", "after"):
        path = run / f"gamma_{when}.npy"
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
    }


def _num(v: Any) -> float:
    """A logged number as float, NaN for a missing one, so that plots show a gap instead of failing."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def step_series(rows: Sequence[dict]) -> dict[str, list]:
    """Column lists of the step log in row order: the one source the step plots draw from (and tests check)."""
    return {k: [str(r.get(k) or "") if k in _TEXT_KEYS else _num(r.get(k)) for r in rows] for k in STEP_KEYS}


def _split(series: dict[str, list], x: str, y: str) -> tuple[tuple[list, list], tuple[list, list]]:
    """(x, y) of kept rows and of rejected rows: a rejected step was rolled back, so it is no part of the path."""
    kept = [i for i, s in enumerate(series["status"]) if s != "rejected"]
    rejected = [i for i, s in enumerate(series["status"]) if s == "rejected"]
    pick = lambda idx: ([series[x][i] for i in idx], [series[y][i] for i in idx])  # noqa: E731
    return pick(kept), pick(rejected)


# -------------------------------------------------------------------------------------------------------- plotting


def _figure_data(fig: Figure) -> dict:
    """The series each axes of a drawn figure holds, read back from its artists (what the PNG shows)."""
    axes = []
    for ax in fig.axes:
        series: dict[str, dict] = {}
        for line in ax.get_lines():
            series[line.get_label()] = {
                "x": np.asarray(line.get_xdata(), dtype=float).tolist(),
                "y": np.asarray(line.get_ydata(), dtype=float).tolist(),
            }
        for container in ax.containers:
            series[container.get_label()] = {
                "x": [t.get_text() for t in ax.get_xticklabels()],
                "y": [float(p.get_height()) for p in container.patches],
            }
        for patch in ax.patches:
            if hasattr(patch, "get_data") and patch.get_label() and not patch.get_label().startswith("_"):
                values, edges, _ = patch.get_data()
                series[patch.get_label()] = {"x": np.asarray(edges).tolist(), "y": np.asarray(values).tolist()}
        entry = {"title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
                 "ylim": [float(v) for v in ax.get_ylim()], "series": series}  # fmt: skip
        secondary = [c.get_ylabel() for c in ax.child_axes if c.get_ylabel()]
        if secondary:
            entry["secondary_ylabel"] = secondary[0]
        axes.append(entry)
    return {"axes": axes}


def _save(fig: Figure, out_dir: Path, name: str) -> Path:
    """Write ``name.png`` and ``name.json`` (the drawn series) with no timestamps, so regenerating is stable."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"{name}.png"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata=_PNG_METADATA)
    write_bytes(png, buf.getvalue())
    data = {"png": png.name, **_figure_data(fig)}
    write_text(out_dir / f"{name}.json", json.dumps(data, indent=1) + "\n")
    return png


def _new_figure(
    ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (11, 4.2), sharex: bool = False
) -> tuple[Figure, list]:
    fig = Figure(figsize=size, layout="constrained")
    axs = fig.subplots(nrows, ncols, squeeze=False, sharex=sharex)
    return fig, [ax for row in axs for ax in row]


def plot_map(
    rows: Sequence[dict], out_dir: str | Path, x: str = "step", max_map_drop: float | None = None
) -> Path:
    """mAP50-95 and mAP50 after pruning and after fine-tuning against the step or the remaining MACs share."""
    if x not in ("step", "macs_ratio"):
        raise ValueError(f"x must be 'step' or 'macs_ratio', not {x!r}")
    series = step_series(rows)
    with mpl_style.context("default"):
        fig, axs = _new_figure(2)
        for ax, metric, title in zip(axs, ("map50_95", "map50"), ("mAP50-95", "mAP50")):
            for suffix, label, style in (("_pruned", "after pruning", "--o"), ("", "after fine-tuning", "-o")):
                (kx, ky), (rx, ry) = _split(series, x, metric + suffix)
                ax.plot(kx, ky, style, label=label, alpha=0.6 if suffix else 1.0, **_KEPT_STYLE)
                if rx:
                    marker = "x" if suffix else "X"
                    ax.plot(rx, ry, marker=marker, label=f"rejected, {label}", **_REJECTED_STYLE)
            if metric == "map50_95" and max_map_drop is not None:
                base = [v for v, p in zip(series["map50_95"], series["phase"]) if p == "base"]
                if base and base[0] - float(max_map_drop) >= 0:  # below 0 no step can cross it
                    stop = base[0] - float(max_map_drop)
                    ax.axhline(stop, color="grey", linestyle=":", label="stop line (base - max_map_drop)")
            ax.set_ylim(bottom=0)  # mAP is never negative; autoscaling all-zero values would show -0.05
            ax.set_title(title)
            ax.set_ylabel(title)
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
            if x == "step":
                ax.set_xlabel("step (0 = unpruned base)")
                ax.xaxis.get_major_locator().set_params(integer=True)
            else:
                ax.set_xlabel("remaining MACs (share of base)")
                ax.invert_xaxis()
        fig.suptitle("Accuracy per step" if x == "step" else "Accuracy for compute")
        return _save(fig, Path(out_dir), "map_vs_step" if x == "step" else "map_vs_macs")


def plot_size(rows: Sequence[dict], out_dir: str | Path) -> Path:
    """Remaining MACs and params share per step, with the absolute values on a secondary axis."""
    series = step_series(rows)
    base = next((r for r in rows if r.get("phase") == "base"), rows[0])
    with mpl_style.context("default"):
        fig, axs = _new_figure(2)
        for ax, key, name in zip(axs, ("macs", "params"), ("MACs", "params")):
            (kx, ky), (rx, ry) = _split(series, "step", f"{key}_ratio")
            ax.plot(kx, ky, "-o", label="kept", **_KEPT_STYLE)
            if rx:
                ax.plot(rx, ry, marker="X", label="rejected (rolled back)", **_REJECTED_STYLE)
            ax.set_title(name)
            ax.set_xlabel("step (0 = unpruned base)")
            ax.set_ylabel(f"remaining {name} (share of base)")
            ax.set_ylim(0, 1.05)
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
            total = _num(base.get(key))
            if math.isfinite(total) and total > 0:
                scale, unit = (1e9, "G") if total >= 1e9 else (1e6, "M")
                k = total / scale
                sec = ax.secondary_yaxis("right", functions=(lambda s, k=k: s * k, lambda v, k=k: v / k))
                sec.set_ylabel(f"{name} ({unit})")
        fig.suptitle("Model size per step")
        return _save(fig, Path(out_dir), "macs_params")


def plot_channels(layers: dict, out_dir: str | Path) -> Path:
    """Output channels per conv layer, base vs final: shows where the pruner cut and whether a layer nearly vanished."""
    base, final = layers.get("base") or {}, layers.get("final") or {}
    names = list(base)
    missing = [n for n in names if n not in final]
    if missing or not names:
        raise UserError(f"layers.json: 'base' and 'final' must name the same layers (missing in final: {missing[:3]})")
    with mpl_style.context("default"):
        fig, (ax,) = _new_figure(size=(max(8.0, 0.2 * len(names) + 2), 5.5))
        ax.bar(names, [base[n] for n in names], width=0.8, color="lightgrey", label="base")
        ax.bar(names, [final[n] for n in names], width=0.5, color="tab:blue", label="final")
        ax.set_title("Output channels per conv layer")
        ax.set_xlabel("layer")
        ax.set_ylabel("output channels")
        ax.tick_params(axis="x", labelrotation=90, labelsize=7)
        ax.margins(x=0.005)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize="small")
        return _save(fig, Path(out_dir), "channels")


def gamma_histograms(before: np.ndarray | None, after: np.ndarray | None, bins: int = 50) -> dict[str, Any]:
    """Counts of finite |gamma| before/after sparse training on shared bins, plus how many were not finite."""
    arrays = {k: np.abs(np.asarray(v, dtype=np.float64).ravel()) for k, v in (("before", before), ("after", after))
              if v is not None}  # fmt: skip
    finite = {k: v[np.isfinite(v)] for k, v in arrays.items()}
    top = max([float(v.max()) for v in finite.values() if v.size] or [1.0])
    edges = np.linspace(0.0, top if top > 0 else 1.0, bins + 1)
    return {
        "edges": edges,
        "counts": {k: np.histogram(v, bins=edges)[0] for k, v in finite.items()},
        "non_finite": {k: int(arrays[k].size - finite[k].size) for k in arrays},
    }


def plot_gamma_hist(before: np.ndarray | None, after: np.ndarray | None, out_dir: str | Path) -> Path:
    """|gamma| of prunable BatchNorms before vs after sparse training: did the penalty push channels towards 0?"""
    hist = gamma_histograms(before, after)
    with mpl_style.context("default"):
        fig, (ax,) = _new_figure(size=(8, 4.5))
        colors = {"before": "tab:grey", "after": "tab:blue"}
        for when, counts in hist["counts"].items():
            ax.stairs(counts, hist["edges"], label=f"{when} sparse training", color=colors[when], linewidth=1.5)
        bad = {k: v for k, v in hist["non_finite"].items() if v}
        title = "BatchNorm |gamma| (prunable layers)"
        if bad:
            title += " - NON-FINITE dropped: " + ", ".join(f"{k} {v}" for k, v in bad.items())
        ax.set_title(title)
        ax.set_xlabel("|gamma|")
        ax.set_ylabel("channels (symlog scale)")
        ax.set_yscale("symlog", linthresh=1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        return _save(fig, Path(out_dir), "gamma_hist")


def plot_sparsity(sparsity: Sequence[dict], out_dir: str | Path) -> Path:
    """Mean |gamma|, share of |gamma| below the pruning threshold and the penalty ``sr`` per sparse-training epoch."""
    epoch = [_num(r.get("epoch")) for r in sparsity]
    panels = (
        ("mean_abs_gamma", "mean |gamma|"),
        ("share_below", "share of |gamma| below threshold"),
        ("sr", "sparsity penalty sr"),
    )
    with mpl_style.context("default"):
        fig, axs = _new_figure(nrows=3, size=(8, 7.5), sharex=True)
        for ax, (key, label) in zip(axs, panels):
            ax.plot(epoch, [_num(r.get(key)) for r in sparsity], "-o", markersize=3, label=key, **_KEPT_STYLE)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axs[-1].set_xlabel("epoch")
        axs[-1].xaxis.get_major_locator().set_params(integer=True)
        axs[0].set_title("Sparse training")
        return _save(fig, Path(out_dir), "sparsity")


def plot_steps(run_dir: str | Path) -> dict[str, Path]:
    """Refresh every plot the run directory has data for (called by the pipeline after each step)."""
    run = load_run(run_dir)
    return _plot_run(run)


def _plot_run(run: dict[str, Any]) -> dict[str, Path]:
    out = run["dir"] / PLOTS_DIR
    max_drop = run["settings"].get("max_map_drop")
    max_drop = _num(max_drop) if max_drop is not None and math.isfinite(_num(max_drop)) else None
    paths = {
        "map_vs_step": plot_map(run["rows"], out, "step", max_drop),
        "map_vs_macs": plot_map(run["rows"], out, "macs_ratio", max_drop),
        "macs_params": plot_size(run["rows"], out),
    }
    if run["layers"]:
        paths["channels"] = plot_channels(run["layers"], out)
    if run["gamma_before"] is not None or run["gamma_after"] is not None:
        paths["gamma_hist"] = plot_gamma_hist(run["gamma_before"], run["gamma_after"], out)
    if run["sparsity"]:
        paths["sparsity"] = plot_sparsity(run["sparsity"], out)
    return paths


# ------------------------------------------------------------------------------------------------------ formatting


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _fixed(v: float, digits: int) -> str:
    s = f"{v:.{digits}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s  # never "-0.000"


def fmt_macs(v: Any) -> str:
    """MACs with a unit prefix ("4.40 G"): raw counts of billions are unreadable."""
    if not _finite(v):
        return NA
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(v) >= scale:
            return f"{_fixed(v / scale, 2)} {unit}"
    return f"{v:.0f}"


def fmt_params(v: Any) -> str:
    """Parameters in millions ("3.16 M"), thousands for toy models."""
    if not _finite(v):
        return NA
    return f"{_fixed(v / 1e6, 2)} M" if abs(v) >= 1e5 else f"{_fixed(v / 1e3, 2)} K"


def fmt_bytes(v: Any) -> str:
    """File size in MB (10^6 bytes)."""
    return f"{_fixed(v / 1e6, 2)} MB" if _finite(v) else NA


def fmt_map(v: Any) -> str:
    """mAP with 3 decimals: finer digits are below evaluation noise."""
    return _fixed(v, 3) if _finite(v) else NA


def fmt_share(v: Any) -> str:
    """A share of base (0.43) as a percentage ("43.0%")."""
    return f"{_fixed(v * 100, 1)}%" if _finite(v) else NA


def fmt_ratio(v: Any) -> str:
    """A ratio such as a speed-up as "2.31x"."""
    return f"{_fixed(v, 2)}x" if _finite(v) else NA


def fmt_latency(lat: dict | None) -> str:
    """``median ms (p10-p90)``: the spread tells whether a speed-up is larger than the noise."""
    if not lat or not _finite(lat.get("median_ms")):
        return NA
    s = f"{_fixed(lat['median_ms'], 2)} ms"
    if _finite(lat.get("p10_ms")) and _finite(lat.get("p90_ms")):
        s += f" ({_fixed(lat['p10_ms'], 2)}-{_fixed(lat['p90_ms'], 2)})"
    return s


def fmt_seconds(v: Any) -> str:
    """Wall time as "42.0 s", "12 min 05 s" or "1 h 02 min"."""
    if not _finite(v):
        return NA
    if v < 60:
        return f"{_fixed(v, 1)} s"
    m, s = divmod(int(round(v)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def _change(base: Any, final: Any, more: str, less: str) -> str:
    """base/final as "2.31x fewer" (or "1.10x more" when it grew), n/a without both numbers."""
    if not (_finite(base) and _finite(final)) or base <= 0 or final <= 0:
        return NA
    r = base / final
    return f"{fmt_ratio(r)} {less}" if r >= 1 else f"{fmt_ratio(1 / r)} {more}"


def _speed(speedup: Any) -> str:
    if not _finite(speedup) or speedup <= 0:
        return NA
    return f"{fmt_ratio(speedup)} faster" if speedup >= 1 else f"{fmt_ratio(1 / speedup)} slower"


def _delta(base: Any, final: Any) -> str:
    return f"{'+' if final >= base else ''}{_fixed(final - base, 3)}" if _finite(base) and _finite(final) else NA


def onnx_gap_exceeded(summary: dict) -> bool:
    """True when ONNX Runtime's mAP differs from PyTorch's by more than the run's tolerance (either direction)."""
    gap, tol = summary.get("onnx_gap"), summary.get("onnx_tolerance")
    return _finite(gap) and _finite(tol) and abs(gap) > tol


def summary_rows(summary: dict) -> list[tuple[str, str, str, str]]:
    """(quantity, base, final, change) rows of the base-vs-final table, shared by terminal, Markdown and HTML."""
    b, f = summary.get("base") or {}, summary.get("final") or {}
    rows = [
        ("MACs", fmt_macs(b.get("macs")), fmt_macs(f.get("macs")),
         f"{fmt_ratio(summary['macs_ratio'])} fewer" if _finite(summary.get("macs_ratio"))
         else _change(b.get("macs"), f.get("macs"), "more", "fewer")),
        ("params", fmt_params(b.get("params")), fmt_params(f.get("params")),
         _change(b.get("params"), f.get("params"), "more", "fewer")),
        (".pt size", fmt_bytes(b.get("pt_bytes")), fmt_bytes(f.get("pt_bytes")),
         _change(b.get("pt_bytes"), f.get("pt_bytes"), "larger", "smaller")),
        ("ONNX size", fmt_bytes(b.get("onnx_bytes")), fmt_bytes(f.get("onnx_bytes")),
         _change(b.get("onnx_bytes"), f.get("onnx_bytes"), "larger", "smaller")),
    ]  # fmt: skip
    for key, label in (("map50_95", "mAP50-95"), ("map50", "mAP50")):
        rows.append((f"{label} (PyTorch)", fmt_map(b.get(key)), fmt_map(f.get(key)), _delta(b.get(key), f.get(key))))
    for key, label in (("onnx_map50_95", "mAP50-95"), ("onnx_map50", "mAP50")):
        rows.append(
            (f"{label} (ONNX Runtime)", fmt_map(b.get(key)), fmt_map(f.get(key)), _delta(b.get(key), f.get(key)))
        )
    for key, label in (("yolo_val_map50_95", "mAP50-95"), ("yolo_val_map50", "mAP50")):
        rows.append((f"{label} (yolo val)", fmt_map(b.get(key)), fmt_map(f.get(key)), _delta(b.get(key), f.get(key))))
    lat_b, lat_f = b.get("latency"), f.get("latency")
    batch = (lat_b or lat_f or {}).get("batch")
    label = "latency median (p10-p90)" + (f", batch {batch}" if batch is not None else "")
    rows.append((label, fmt_latency(lat_b), fmt_latency(lat_f), _speed(summary.get("speedup"))))
    lb_b, lb_f = b.get("latency_batch"), f.get("latency_batch")
    if lb_b or lb_f:
        batch = (lb_b or lb_f or {}).get("batch")
        medians = [(d or {}).get("median_ms") for d in (lb_b, lb_f)]
        ratio = medians[0] / medians[1] if all(_finite(m) and m > 0 for m in medians) else None
        rows.append(
            (f"latency median (p10-p90), batch {batch}", fmt_latency(lb_b), fmt_latency(lb_f), _speed(ratio))
        )
    return rows


def _speed_line(summary: dict) -> str:
    """Measured speed-up next to the MACs ratio, because fewer MACs often buy less time than they promise."""
    lat = (summary.get("final") or {}).get("latency") or (summary.get("base") or {}).get("latency") or {}
    where = ", ".join(
        s for s in (
            str(lat["provider"]) if lat.get("provider") else "",
            f"batch {lat['batch']}" if lat.get("batch") is not None else "",
            f"imgsz {lat['imgsz']}" if lat.get("imgsz") is not None else "",
            f"{lat['runs']} runs" if lat.get("runs") is not None else "",
            "1 thread, timed by its CPU time" if lat.get("clock") == "cpu" else
            f"{lat['threads']} threads" if lat.get("threads") else "",
        ) if s
    )  # fmt: skip
    speed = f"{fmt_ratio(summary.get('speedup'))} measured" if _finite(summary.get("speedup")) else "n/a (not measured)"
    return f"Speed-up: {speed}; MACs ratio: {fmt_ratio(summary.get('macs_ratio'))}" + (f" ({where})" if where else "")


def _gap_line(summary: dict) -> str:
    gap, tol = summary.get("onnx_gap"), summary.get("onnx_tolerance")
    if not _finite(gap):
        return "ONNX Runtime vs PyTorch mAP gap: not measured."
    if onnx_gap_exceeded(summary):
        return (
            f"{ONNX_FLAG}: ONNX Runtime and PyTorch mAP differ by {fmt_map(gap)} (tolerance {fmt_map(tol)}); "
            "check the exported model before deploying it."
        )
    return f"ONNX Runtime vs PyTorch mAP gap: {fmt_map(gap)} (tolerance {fmt_map(tol)}): within tolerance."


def yolo_val_line(summary: dict, short: bool = False) -> str:
    """Why the 'yolo val' rows differ from the PyTorch ones: users compare them with what Ultralytics prints."""
    batch = summary.get("yolo_val_batch")
    command = "yolo val model=<.pt> data=<data>" + (f" batch={batch}" if batch is not None else "")
    if short:
        return (f"mAP (yolo val) = what `{command}` reports (rectangular batches); the other mAP rows letterbox every "
                "image to imgsz x imgsz, as the ONNX model sees it (see the report).")  # fmt: skip
    return (
        "mAP (PyTorch), mAP (ONNX Runtime) and the steps: every image letterboxed to imgsz x imgsz (rect=False), the "
        f"input of the exported model. mAP (yolo val): what `{command}` reports, with rectangular batches (rect=True: "
        "each batch letterboxed to its images' aspect ratio plus half a stride of padding, e.g. 160 x 160 for square "
        "images at imgsz 128), so the two differ."
    )


def no_step_kept_line(summary: dict) -> str:
    """One line for a run whose every pruning step lost too much: its final model is the base model."""
    why = summary.get("rejected") or {}
    lost = (f" (step {why['step']} lost {fmt_map(why.get('map_drop'))} mAP50-95, more than max_map_drop "
            f"{summary.get('max_map_drop')})" if why else "")  # fmt: skip
    base = "the base model" + (f" after {summary['final_phase']} training" if summary.get("final_phase") not in
                               (None, "base") else "")  # fmt: skip
    return f"no pruning step was kept{lost}: final.pt is {base}, unpruned"


def slow_widths(layers: dict | None, settings: dict) -> dict[str, Any]:
    """Pruned widths that are not multiples of what the run's latency provider runs fast (``FAST_MULTIPLE``), each
    with why it is so: rounding could not apply (a layer narrower than ``round_to``), ``round_to`` itself, or a width
    Ultralytics derives from others. The head's prediction convs (class count, box encoding) are left out."""
    from yolo_prune.latency import FAST_MULTIPLE

    provider = str(settings.get("latency_provider") or "cpu")
    multiple, round_to = FAST_MULTIPLE.get(provider, 8), int(settings.get("round_to") or 1)
    base, final = (layers or {}).get("base") or {}, (layers or {}).get("final") or {}
    fixed = set((layers or {}).get("fixed") or [])
    slow = []
    for name, width in final.items():
        if name in fixed or width % multiple == 0:
            continue
        if width == base.get(name):
            why = "not pruned: the base model's own width"
        elif width < round_to or base.get(name, round_to) < round_to:
            why = f"narrower than round_to {round_to}, so rounding cannot apply"
        elif round_to % multiple:
            why = f"round_to {round_to} is not a multiple of {multiple}"
        else:
            why = "derived by Ultralytics' width rules from other layers' widths"
        slow.append((name, base.get(name), width, why))
    narrow = sorted(n for n, b in base.items() if n not in fixed and b < round_to)
    return {"provider": provider, "multiple": multiple, "round_to": round_to, "narrow": narrow, "slow": slow,
            "layers": len(final) - len(fixed & set(final))}  # fmt: skip


def slow_widths_line(check: dict[str, Any]) -> str | None:
    """One line flagging widths the runtime runs slower, or None when every width suits it."""
    if not check["slow"]:
        return None
    return (f"{len(check['slow'])} of {check['layers']} conv widths are not multiples of {check['multiple']}, which "
            f"ONNX Runtime's {check['provider']} kernels run slower (e.g. {check['slow'][0][0]}: "
            f"{check['slow'][0][2]} channels); prune with --round-to 8 or 16 for widths that run fast")  # fmt: skip


def stock_training_line(summary: dict) -> str | None:
    """What ``yolo train model=final.pt`` does with this run's final model."""
    if "yaml_note" not in summary:
        return None
    if summary["yaml_note"] is None:
        return "`yolo train model=final.pt` trains this pruned model further as it is: its model.yaml states every width"
    return (f"`yolo train model=final.pt` stops with a message, because these widths cannot be written as a model "
            f"yaml ({summary['yaml_note']}); train it further with yolo-prune --method finetune")


def notes(summary: dict) -> list[str]:
    """What a reader must know before trusting the base-vs-final table: no step kept, no ONNX."""
    out = []
    if summary.get("no_step_kept"):
        line = no_step_kept_line(summary)
        out.append(f"{line[0].upper()}{line[1:]}; there is no speed-up to measure.")
    if summary.get("onnx_error"):
        out.append(f"ONNX export was not possible, so ONNX sizes, ONNX Runtime mAP and latency are n/a: "
                   f"{summary['onnx_error']}")  # fmt: skip
    return out


def format_summary_table(summary: dict) -> str:
    """The base-vs-final table as aligned plain text, for the terminal at the end of a run."""
    rows = [("", "base", "final", "change"), *summary_rows(summary)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in rows]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += ["", *notes(summary), _speed_line(summary), _gap_line(summary), yolo_val_line(summary, short=True)]
    return "\n".join(lines)


def summary_from_steps(rows: Sequence[dict], run_dir: str | Path | None = None) -> dict:
    """A summary in ``summary.json``'s shape from the step log alone (base row vs last kept row), for unfinished runs;
    with ``run_dir``, the sizes of the checkpoints that exist there."""
    base = next((r for r in rows if r.get("phase") == "base"), rows[0])
    final = _last_kept(rows)

    def side(r: dict) -> dict:
        keys = ("onnx_bytes", "yolo_val_map50_95", "yolo_val_map50", "onnx_map50_95", "onnx_map50", "latency")
        pt = Path(run_dir) / str(r.get("checkpoint")) if run_dir is not None and r.get("checkpoint") else None
        return {"macs": r.get("macs"), "params": r.get("params"), "map50_95": r.get("map50_95"),
                "map50": r.get("map50"), "pt_bytes": pt.stat().st_size if pt and pt.is_file() else None,
                **dict.fromkeys(keys)}  # fmt: skip

    bm, fm = base.get("macs"), final.get("macs")
    ratio = bm / fm if _finite(bm) and _finite(fm) and fm > 0 else None
    return {"base": side(base), "final": side(final), "speedup": None, "macs_ratio": ratio, "onnx_gap": None,
            "onnx_tolerance": None}  # fmt: skip


def _last_kept(rows: Sequence[dict]) -> dict:
    kept = [r for r in rows if r.get("status") != "rejected"]
    return kept[-1] if kept else rows[0]


def _step_table(rows: Sequence[dict]) -> tuple[list[str], list[list[str]], list[str]]:
    headers = [
        "step", "phase", "target removed", "removed", "MACs", "MACs left", "params", "params left", "mAP50-95 pruned",
        "mAP50-95", "mAP50 pruned", "mAP50", "mAP50-95 drop", "time", "status", "checkpoint",
    ]  # fmt: skip
    body, classes = [], []
    for r in rows:
        rejected = r.get("status") == "rejected"
        body.append([
            str(r.get("step", NA)), str(r.get("phase") or NA), fmt_share(r.get("target_rate")),
            fmt_share(r.get("rate")), fmt_macs(r.get("macs")), fmt_share(r.get("macs_ratio")), fmt_params(r.get("params")),
            fmt_share(r.get("params_ratio")), fmt_map(r.get("map50_95_pruned")), fmt_map(r.get("map50_95")),
            fmt_map(r.get("map50_pruned")), fmt_map(r.get("map50")), fmt_map(r.get("map_drop")),
            fmt_seconds(r.get("seconds")), "REJECTED" if rejected else str(r.get("status") or NA),
            str(r.get("checkpoint") or "-"),
        ])  # fmt: skip
        classes.append("rejected" if rejected else "")
    return headers, body, classes


_TEXT_COLUMNS = {"", "phase", "status", "checkpoint", "setting", "value", "package", "version", "layer", "met"}


# --------------------------------------------------------------------------------------------------------- reports

_PLOT_CAPTIONS = {
    "map_vs_step": "mAP after pruning and after fine-tuning, per step (red: rejected steps, rolled back)",
    "map_vs_macs": "mAP against the remaining MACs share: the accuracy you keep for the compute you keep",
    "macs_params": "Remaining MACs and params per step",
    "channels": "Output channels per conv layer, base vs final",
    "gamma_hist": "BatchNorm |gamma| before and after sparse training",
    "sparsity": "Sparse training per epoch",
}


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _blocks(run: dict[str, Any], plots: dict[str, Path]) -> list[tuple]:
    """The report as neutral blocks, so that Markdown and HTML say exactly the same thing."""
    settings, rows = run["settings"], run["rows"]
    model = settings.get("model")
    title = "Pruning report: " + (Path(str(model)).name if model else run["dir"].name)
    if settings.get("method"):
        title += f" ({settings['method']})"
    blocks: list[tuple] = [("h1", title)]
    if settings.get("command"):
        blocks.append(("code", str(settings["command"])))
    summary = run["summary"]
    final_row = _last_kept(rows)
    final_name = f"step {final_row.get('step')} ({final_row.get('phase')})"
    blocks.append(("h2", "Result: base vs final"))
    if summary is None:
        summary = summary_from_steps(rows, run["dir"])
        blocks.append((
            "warn",
            f"Interrupted run: summary.json is missing, so this run did not finish (or is still running). "
            f"{len(rows)} step(s) are logged; 'final' below is the last kept step, {final_name}, taken from "
            "steps.json. Latency, ONNX sizes and the yolo val and ONNX Runtime mAP are measured only at the end, so "
            "they read n/a; .pt sizes are those of the checkpoints in the run directory.",
        ))  # fmt: skip
    else:
        blocks.append(("p", f"final = the run's final model; its last kept step is {final_name}."))
    blocks += [("warn", note) for note in notes(summary)]
    blocks.append(("table", ["", "base", "final", "change"], [list(r) for r in summary_rows(summary)], None))
    blocks.append(("p", _speed_line(summary) + ". Sizes in MB = 10^6 bytes; mAP change = final - base."))
    gap = _gap_line(summary)
    blocks.append(("warn" if onnx_gap_exceeded(summary) else "p", gap))
    blocks.append(("p", yolo_val_line(summary)))

    blocks.append(("h2", "Steps"))
    rejected = sum(r.get("status") == "rejected" for r in rows)
    total = sum(_num(r.get("seconds")) for r in rows if _finite(r.get("seconds")))
    blocks.append((
        "p",
        f"{len(rows)} row(s), {rejected} rejected (crossed max_map_drop and rolled back); total step time "
        f"{fmt_seconds(total)}. 'pruned' = right after pruning, before fine-tuning; 'left' = remaining share of base.",
    ))  # fmt: skip
    headers, body, classes = _step_table(rows)
    blocks.append(("table", headers, body, classes))
    blocks += speed_blocks(run["dir"], summary)  # a speed target's sections; none for other runs

    blocks.append(("h2", "Channel counts"))
    if final_row.get("rate") is not None:
        blocks.append(("p", f"The final model has {fmt_share(final_row['rate'])} of the base's prunable channels "
                            f"removed (scheduled: {fmt_share(final_row.get('target_rate'))}); rounding and the width "
                            "rules move the share a little."))  # fmt: skip
    check = slow_widths(run["layers"], settings)
    line = slow_widths_line(check)
    if line:
        blocks.append(("warn", line + "."))
        blocks.append(("table", ["layer", "base", "final", "why"],
                       [[n, str(b), str(w), why] for n, b, w, why in check["slow"]], None))  # fmt: skip
    elif run["layers"]:
        blocks.append(("p", f"Every pruned width is a multiple of {check['multiple']}, which ONNX Runtime's "
                            f"{check['provider']} kernels run at full speed."))  # fmt: skip
    if check["narrow"]:
        blocks.append(("p", f"Rounding to multiples of {check['round_to']} could not apply to {len(check['narrow'])} "
                            f"layer(s) narrower than that, which keep their own width: "
                            f"{', '.join(check['narrow'])}."))  # fmt: skip
    training = stock_training_line(summary)
    if training:
        blocks.append(("p", training + "."))

    blocks.append(("h2", "Plots"))
    for name, path in plots.items():
        blocks.append(("img", _PLOT_CAPTIONS.get(name, name), path))

    blocks.append(("h2", "Settings"))
    hidden = ("command", "versions")
    items = [[str(k), _value(v)] for k, v in settings.items() if k not in hidden]
    blocks.append(("table", ["setting", "value"], items, None) if items else ("p", "settings.yaml is missing."))
    blocks.append(("h2", "Versions"))
    versions = settings.get("versions") if isinstance(settings.get("versions"), dict) else {}
    vitems = [[str(k), "not installed" if v is None else str(v)] for k, v in versions.items()]
    blocks.append(("table", ["package", "version"], vitems, None) if vitems else ("p", "No versions recorded."))
    return blocks


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _render_md(blocks: list[tuple], run_dir: Path) -> str:
    out = []
    for kind, *rest in blocks:
        if kind == "h1":
            out.append(f"# {rest[0]}")
        elif kind == "h2":
            out.append(f"## {rest[0]}")
        elif kind == "p":
            out.append(rest[0])
        elif kind == "warn":
            out.append(f"> **Warning:** {rest[0]}")
        elif kind == "code":
            out.append(f"```\n{rest[0]}\n```")
        elif kind == "table":
            headers, body, _ = rest
            align = ["---" if i == 0 or h in _TEXT_COLUMNS else "---:" for i, h in enumerate(headers)]
            lines = ["| " + " | ".join(_md_cell(h) for h in headers) + " |", "|" + "|".join(align) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in body]
            out.append("\n".join(lines))
        elif kind == "img":
            caption, path = rest
            out.append(f"![{caption}]({path.relative_to(run_dir).as_posix()})\n\n*{caption}*")
    return "\n\n".join(out) + "\n"


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px; margin: 2em auto;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .3em .6em; } th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.rejected td { background: #fde8e8; color: #a00; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; white-space: pre-wrap; }
.warn { background: #fff4e0; border-left: 4px solid #e08a00; padding: .6em .8em; }
figure { margin: 1em 0; } img { max-width: 100%; } figcaption { color: #555; font-size: .9em; }
""".strip()


def _render_html(blocks: list[tuple]) -> str:
    esc = html.escape
    title = next((b[1] for b in blocks if b[0] == "h1"), "Pruning report")
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head>\n<meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        f"<style>\n{_CSS}\n</style>\n</head>\n<body>",
    ]
    for kind, *rest in blocks:
        if kind in ("h1", "h2"):
            out.append(f"<{kind}>{esc(rest[0])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{esc(rest[0])}</p>")
        elif kind == "warn":
            out.append(f'<p class="warn"><strong>Warning:</strong> {esc(rest[0])}</p>')
        elif kind == "code":
            out.append(f"<pre><code>{esc(rest[0])}</code></pre>")
        elif kind == "table":
            headers, body, classes = rest
            numeric = [i > 0 and h not in _TEXT_COLUMNS for i, h in enumerate(headers)]
            lines = ["<table>", "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr>"]
            for i, r in enumerate(body):
                cls = f' class="{classes[i]}"' if classes and classes[i] else ""
                cells = "".join(
                    f'<td class="num">{esc(c)}</td>' if numeric[j] else f"<td>{esc(c)}</td>"
                    for j, c in enumerate(r)
                )
                lines.append(f"<tr{cls}>{cells}</tr>")
            out.append("\n".join(lines + ["</table>"]))
        elif kind == "img":
            caption, path = rest
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            out.append(
                f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{esc(caption)}</figcaption></figure>"
            )
    out.append("</body>\n</html>")
    return "\n".join(out) + "\n"


def write_report(run_dir: str | Path) -> tuple[Path, Path]:
    """Regenerate the plots, then ``report.md`` and a self-contained ``report.html`` (plots inlined) in the run dir."""
    md, page, _ = _write_all(run_dir)
    return md, page


def _write_all(run_dir: str | Path) -> tuple[Path, Path, dict[str, Path]]:
    run = load_run(run_dir)
    plots = _plot_run(run)
    blocks = _blocks(run, plots)
    md, page = run["dir"] / "report.md", run["dir"] / "report.html"
    write_text(md, _render_md(blocks, run["dir"]))
    write_text(page, _render_html(blocks))
    return md, page, plots


# ------------------------------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate a run directory's plots and reports and print their paths; 2 on a user error."""
    parser = argparse.ArgumentParser(
        prog="python -m yolo_prune.report",
        description="Regenerate plots, report.md and report.html from a (finished or interrupted) run directory.",
    )
    parser.add_argument("run_dir", help="run directory written by yolo-prune (must contain steps.json)")
    args = parser.parse_args(argv)
    try:
        md, page, plots = _write_all(args.run_dir)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for png in plots.values():
        print(png)
    print(md)
    print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
