"""The report's sections for a width search (``--method search``): one row per speed target, what the search cost,
and its plot of every candidate scored.

Reads ``search.json`` and ``speed_target.json`` (``yolo_prune.rundir``); draws ``plots/search.png`` (candidates:
the latency model's speed-up, or the measured one where timed, against the metric on the search's validation
subset; the uniform-width candidates (DepGraph's choice at each target), the speed target's one-step cuts and the
chosen ones marked; drawn by ``report.plots.plot_search``).

Usage:
    from yolo_prune.report.search import search_blocks

    blocks = search_blocks(Path("runs/prune/exp"), state, "measured", "ONNX Runtime cpu", "map50_95")  # [] if none

CLI (the sections come with the report):
    yolo-prune --report runs/prune/exp
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yolo_prune.report.format import finite
from yolo_prune.rundir import SEARCH_FILE, STEPS_FILE, read_json


def _x(v: Any) -> str:
    return f"{v:.2f}x" if finite(v) else "n/a"


def candidate_speedup(c: dict[str, Any]) -> float:
    """Where a candidate sits on the plot's latency axis: measured where it was timed, else predicted."""
    return c.get("measured_speedup") or c["predicted_speedup"]


def search_blocks(run_dir: Path, state: dict[str, Any], how: str, where: str, metric: str) -> list[tuple]:
    """The targets' table and what the search did, each target's model judged by ``metric`` (the run's deciding
    one); [] for a run without a search."""
    search = read_json(run_dir / SEARCH_FILE, optional=True)
    if not search or not state.get("targets"):
        return []
    tuned = {r["step"]: r for r in read_json(run_dir / STEPS_FILE, optional=True) or [] if r.get("phase") == "prune"}
    steps = {s["step"]: s for s in state.get("steps") or []}
    gens = search.get("generations") or []
    candidates = [c for g in gens for c in g["candidates"]]
    met = sum(1 for s in steps.values() if s["met"])
    rows = []
    for k, t in enumerate(state["targets"], 1):
        s, chosen, row = steps.get(k), search.get("chosen", {}).get(f"{t:g}"), tuned.get(k, {})
        rows.append([_x(t), str(k), _x(s["speedup"]) if s else "n/a", ("yes" if s["met"] else "no") if s else "n/a",
                     f"{chosen['metric']:.3f}" if chosen else "n/a",
                     f"{row[metric]:.3f}" if finite(row.get(metric)) else "n/a",
                     row.get("checkpoint") or "n/a"])  # fmt: skip
    first = gens[0]["candidates"] if gens else []
    text = (f"One supernet, one search, one model per target ({where}): {met} of {len(state['targets'])} targets "
            f"{how} met. The supernet trained {search.get('supernet_epochs', 'n/a')} epoch(s) (the widest, the "
            f"narrowest and two random subnets in turn, each layer keeping its most important channels); the search "
            f"scored {len(candidates)} candidates in {max(len(gens) - 1, 0)} generation(s) after the first (each cut "
            f"from the supernet, its BatchNorm statistics recalibrated, scored on the search's validation subset), "
            f"in {search.get('seconds') or 0:.0f} s; each target's best candidates were timed against the base and "
            f"the best that measured the target was cut and fine-tuned.")  # fmt: skip
    for origin, what in (("uniform", "Uniform widths (DepGraph's choice at each target)"),
                         ("latency", "The speed target's one-step cut at each target (--method latency)")):
        seeds = [c for c in first if c["origin"] == origin]
        if seeds:
            text += f" {what} scored " + ", ".join(f"{c['metric']:.3f} at {_x(candidate_speedup(c))}" for c in seeds)
            text += "."
    return [
        ("h2", "Width search"),
        ("p", text),
        ("table", ["target", "step", f"{how} speed-up", "met", "search score", "after fine-tuning", "checkpoint"],
         rows, None),
    ]  # fmt: skip
