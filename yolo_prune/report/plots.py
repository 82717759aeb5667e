"""The report's plots: each a PNG with a JSON file beside it that holds the exact series drawn, written without
timestamps so that regenerating them from the same run directory gives byte-identical files.

Usage:
    from yolo_prune.report.plots import plot_map, plot_steps

    plot_steps("runs/prune/exp")  # {"map_vs_step": Path(".../plots/map_vs_step.png"), ...}: every plot it has data for
    plot_map(rows, "out", x="macs_ratio", max_map_drop=0.02)  # out/map_vs_macs.png and out/map_vs_macs.json

CLI (the plots come with the report):
    yolo-prune --report runs/prune/exp
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib import style as mpl_style
from matplotlib.figure import Figure

from yolo_prune.errors import UserError
from yolo_prune.report.load import load_run, num, step_series
from yolo_prune.report.search import candidate_speedup
from yolo_prune.rundir import DEFAULT_METRICS, PLOTS_DIR, run_metrics, write_bytes, write_text

# PNG text chunks matplotlib adds by default; dropping them keeps regenerated files byte-identical.
_PNG_METADATA = {"Software": None}
_DPI = 100
_KEPT_STYLE = {"color": "tab:blue"}
_REJECTED_STYLE = {"color": "tab:red", "linestyle": "none", "markersize": 9, "markeredgewidth": 2}


def _split(series: dict[str, list], x: str, y: str) -> tuple[tuple[list, list], tuple[list, list]]:
    """(x, y) of kept rows and of rejected rows: a rejected step was rolled back, so it is no part of the path."""
    kept = [i for i, s in enumerate(series["status"]) if s != "rejected"]
    rejected = [i for i, s in enumerate(series["status"]) if s == "rejected"]
    pick = lambda idx: ([series[x][i] for i in idx], [series[y][i] for i in idx])  # noqa: E731
    return pick(kept), pick(rejected)



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
    rows: Sequence[dict], out_dir: str | Path, x: str = "step", max_map_drop: float | None = None,
    metrics: dict[str, str] | None = None,
) -> Path:  # fmt: skip
    """Each of the run's ``metrics`` (``run_metrics``: our name -> label, the deciding one first; default
    detection's mAP50-95 and mAP50) after pruning and after fine-tuning, against the step or the remaining MACs
    share; the stop line of ``max_map_drop`` on the deciding one."""
    if x not in ("step", "macs_ratio"):
        raise ValueError(f"x must be 'step' or 'macs_ratio', not {x!r}")
    metrics = metrics or DEFAULT_METRICS
    series = step_series(rows, metrics)
    yardstick = next(iter(metrics))
    with mpl_style.context("default"):
        two_rows = len(metrics) > 2
        fig, axs = _new_figure(2, 2 if two_rows else 1, size=(11, 8.4) if two_rows else (11, 4.2))
        for ax, (metric, label) in zip(axs, metrics.items()):
            for suffix, name, style in (("_pruned", "after pruning", "--o"), ("", "after fine-tuning", "-o")):
                (kx, ky), (rx, ry) = _split(series, x, metric + suffix)
                ax.plot(kx, ky, style, label=name, alpha=0.6 if suffix else 1.0, **_KEPT_STYLE)
                if rx:
                    marker = "x" if suffix else "X"
                    ax.plot(rx, ry, marker=marker, label=f"rejected, {name}", **_REJECTED_STYLE)
            if metric == yardstick and max_map_drop is not None:
                base = [v for v, p in zip(series[metric], series["phase"]) if p == "base"]
                if base and base[0] - float(max_map_drop) >= 0:  # below 0 no step can cross it
                    stop = base[0] - float(max_map_drop)
                    ax.axhline(stop, color="grey", linestyle=":", label="stop line (base - max_map_drop)")
            ax.set_ylim(bottom=0)  # no metric is negative; autoscaling all-zero values would show -0.05
            ax.set_title(f"{label} (decides)" if metric == yardstick and len(metrics) > 1 else label)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
            if x == "step":
                ax.set_xlabel("step (0 = unpruned base)")
                ax.xaxis.get_major_locator().set_params(integer=True)
            else:
                ax.set_xlabel("remaining MACs (share of base)")
                ax.invert_xaxis()
        for ax in axs[len(metrics):]:
            ax.remove()
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
            total = num(base.get(key))
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
    epoch = [num(r.get("epoch")) for r in sparsity]
    panels = (
        ("mean_abs_gamma", "mean |gamma|"),
        ("share_below", "share of |gamma| below threshold"),
        ("sr", "sparsity penalty sr"),
    )
    with mpl_style.context("default"):
        fig, axs = _new_figure(nrows=3, size=(8, 7.5), sharex=True)
        for ax, (key, label) in zip(axs, panels):
            ax.plot(epoch, [num(r.get(key)) for r in sparsity], "-o", markersize=3, label=key, **_KEPT_STYLE)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axs[-1].set_xlabel("epoch")
        axs[-1].xaxis.get_major_locator().set_params(integer=True)
        axs[0].set_title("Sparse training")
        return _save(fig, Path(out_dir), "sparsity")


def plot_search(search: dict[str, Any], targets: list[float], out_dir: str | Path, label: str) -> Path:
    """Every candidate scored: speed-up over the base against the metric, by origin; the chosen ones and the
    targets marked."""
    candidates = [c for g in search.get("generations") or [] for c in g["candidates"]]
    chosen = [c for c in (search.get("chosen") or {}).values()]
    with mpl_style.context("default"):
        fig, (ax,) = _new_figure(size=(8, 5))
        labels = {"uniform": "uniform widths (DepGraph)", "latency": "the speed target's cut (--method latency)"}
        for origin, style in (("random", "o"), ("mutation", "o"), ("crossover", "o"), ("uniform", "s"),
                              ("latency", "D")):  # fmt: skip
            group = [c for c in candidates if c["origin"] == origin]
            if group:
                ax.plot([candidate_speedup(c) for c in group], [c["metric"] for c in group], style, alpha=0.7,
                        label=labels.get(origin, f"{origin} ({len(group)})"))
        if chosen:
            ax.plot([candidate_speedup(c) for c in chosen], [c["metric"] for c in chosen], "*", markersize=16,
                    color="tab:red", label="chosen")  # fmt: skip
        for t in targets:
            ax.axvline(t, color="grey", linestyle=":")
        ax.set_xlabel("speed-up over the base (measured where timed, else the latency model's)")
        ax.set_ylabel(f"{label} (search's validation subset)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        ax.set_title("Width search: every candidate scored")
        return _save(fig, Path(out_dir), "search")


def plot_steps(run_dir: str | Path) -> dict[str, Path]:
    """Refresh every plot the run directory has data for (called by the pipeline after each step)."""
    run = load_run(run_dir)
    return plot_run(run)


def plot_run(run: dict[str, Any]) -> dict[str, Path]:
    out = run["dir"] / PLOTS_DIR
    max_drop = run["settings"].get("max_map_drop")
    max_drop = num(max_drop) if max_drop is not None and math.isfinite(num(max_drop)) else None
    paths = {
        "map_vs_step": plot_map(run["rows"], out, "step", max_drop, run_metrics(run["settings"])),
        "map_vs_macs": plot_map(run["rows"], out, "macs_ratio", max_drop, run_metrics(run["settings"])),
        "macs_params": plot_size(run["rows"], out),
    }
    if run["layers"]:
        paths["channels"] = plot_channels(run["layers"], out)
    if run["gamma_before"] is not None or run["gamma_after"] is not None:
        paths["gamma_hist"] = plot_gamma_hist(run["gamma_before"], run["gamma_after"], out)
    if run["sparsity"]:
        paths["sparsity"] = plot_sparsity(run["sparsity"], out)
    if run["search"] and run["search"].get("generations"):
        targets = run["settings"].get("target_speedup") or []
        targets = targets if isinstance(targets, list) else [targets]
        label = next(iter(run_metrics(run["settings"]).values()))
        paths["search"] = plot_search(run["search"], [num(t) for t in targets], out, label)
    return paths

