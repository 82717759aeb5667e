"""The report's sections on a speed target (``--target-speedup``/``--target-latency-ms`` runs): the target and each
step's measured speed-up, the time spent timing (per step and in all, beside each step's whole time) and the latency
model's error, the model's floor and the speed-up it allows at the run's MACs ratio, and per-layer guidance (which
layers cost time and which cost accuracy when cut).

It only reads what the latency method writes into the run directory, ``speed_target.json``,
``latency_model.json`` and ``latency_table.json``, beside ``layers.json`` and the step log; a run without them gets
no section. The blocks are the report's
neutral blocks (``yolo_prune.report.render`` writes them as Markdown and HTML).

Usage:
    from yolo_prune.report.speed import guidance_rows, speed_blocks

    blocks = speed_blocks(Path("runs/prune/exp"), summary)  # [] unless the run had a speed target
    rows = timing_rows(Path("runs/prune/exp"))                # per step: seconds timing, models, the model's error
    rows = guidance_rows(Path("runs/prune/exp"))              # per layer: widths, time and accuracy of a halving

CLI (the report, with these sections):
    yolo-prune --report runs/prune/exp
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yolo_prune.latency import attainable_speedup, step_timing, timing_label
from yolo_prune.report.format import finite
from yolo_prune.report.search import search_blocks
from yolo_prune.rundir import (
    LATENCY_MODEL_FILE, LATENCY_TABLE_FILE, LAYERS_FILE, SPEED_TARGET_FILE, STEPS_FILE, read_json, run_metrics,
)  # fmt: skip


def guidance_rows(run_dir: Path) -> list[dict[str, Any]]:
    """Per layer the run chose a width for, from the first latency table (measured on the base model): base and
    final width (``layers.json``), the time a halving saves, how far it moves the detections, how many layers it
    narrows and the share of the layer's importance it removes; most time first."""
    tables = read_json(run_dir / LATENCY_TABLE_FILE, optional=True)
    layers = read_json(run_dir / LAYERS_FILE, optional=True) or {}
    if not tables:
        return []
    base, final = layers.get("base") or {}, layers.get("final") or {}
    rows = []
    for r in tables[0]["layers"]:
        rows.append({
            "layer": r["layer"], "base_width": base.get(r["layer"]), "final_width": final.get(r["layer"]),
            "saved_ms": r["saved_ms"], "saved_share": r["saved_share"], "output_change": r["output_change"],
            "layers_narrowed": r["layers_narrowed"], "importance_removed": r["importance_removed"],
        })  # fmt: skip
    return sorted(rows, key=lambda g: -g["saved_share"])


def timing_rows(run_dir: Path) -> list[dict[str, Any]]:
    """Per step (0: the floor, before the run): the seconds spent timing, the models timed and their runs, the
    step's whole time from the step log (timing, cut, validation, fine-tuning), and the latency model's mean absolute
    error on the step's proposals (measured speed-up against predicted)."""
    state = read_json(run_dir / SPEED_TARGET_FILE, optional=True) or {}
    tables = {t["step"]: t for t in read_json(run_dir / LATENCY_TABLE_FILE, optional=True) or []}
    seconds = {r["step"]: r.get("seconds") for r in read_json(run_dir / STEPS_FILE, optional=True) or []
               if r.get("phase") == "prune"}  # fmt: skip
    rows = []
    for step, t in step_timing(state.get("timing") or []).items():
        errors = [abs(p["error"]) for p in tables.get(step, {}).get("proposals", []) if "error" in p]
        rows.append({"step": step, **t, "step_seconds": seconds.get(step),
                     "error": sum(errors) / len(errors) if errors else None})  # fmt: skip
    return rows


def _pct(v: Any) -> str:
    return f"{v * 100:.1f}%" if finite(v) else "n/a"


def _x(v: Any) -> str:
    return f"{v:.2f}x" if finite(v) else "n/a"


def _ms(v: Any) -> str:
    return f"{v:.2f}" if finite(v) else "n/a"


def speed_blocks(run_dir: Path, summary: dict[str, Any] | None) -> list[tuple]:
    """Report blocks for a run with a speed target; [] for any other run. ``summary`` is the run's summary (or the
    step log's, for an unfinished run): its MACs ratio and measured speed-up."""
    state = read_json(run_dir / SPEED_TARGET_FILE, optional=True)
    if not state:
        return []
    summary = summary or {}
    where = f"{timing_label(state['provider'], state.get('threads'))}, imgsz {state.get('imgsz')}, batch 1"
    device = state.get("device") if state.get("predicted") else None
    how = "predicted" if device else "measured"  # a device's timings: each step's speed-up is the model's prediction
    if device:
        where = (f"{state['provider']} on the device, imgsz {state.get('imgsz')}, batch 1: predicted from the "
                 f"device's timings (kit {device.get('kit')}), not measured here")  # fmt: skip
    priced = "priced by the latency model" if device else "exported and timed against the base in interleaved rounds"
    if state.get("targets"):  # a width search: one model per target
        metric = next(iter(run_metrics(summary)))  # the run's deciding metric
        return search_blocks(run_dir, state, how, where, metric) + _timing_blocks(run_dir, state)
    target, steps, met = state["target_speedup"], state.get("steps") or [], state.get("met_at_step")
    wanted = f" ({state['target_latency_ms']:g} ms asked for)" if state.get("target_latency_ms") else ""
    if met is not None:
        hit = next(s for s in steps if s["step"] == met)
        verdict = f"Met at step {met}: {_x(hit['speedup'])} {how} against the base."
    elif steps:
        best = max(steps, key=lambda s: s["speedup"])
        verdict = f"Not met: the best step {how} {_x(best['speedup'])} (step {best['step']})."
    else:
        verdict = f"No step has been {how} yet."
    blocks: list[tuple] = [
        ("h2", "Speed target"),
        ("p", f"Target: {_x(target)} the base's speed{wanted} ({where}; each step's checkpoint {priced}). "
              f"{verdict}"),
        ("table", ["step", "step target", f"{how} speed-up", "base ms", "step ms", "met"],
         [[str(s["step"]), _x(s["step_target"]), _x(s["speedup"]), _ms(s["base_ms"]), _ms(s["ms"]),
           "yes" if s["met"] else "no"] for s in steps], None),
    ]  # fmt: skip
    if device:
        blocks.append(("warn", (
            f"Predicted, not measured: the floor, the latency model and every step's speed-up above come from the "
            f"timings a device made of the latency kit in {device.get('kit')} ({device.get('machine')}, "
            f"{device.get('system')}; {device.get('threads') or 'its own'} thread(s), {device.get('clock')}); no "
            f"model was timed for them here. To confirm the final speed-up, time {device.get('kit')}/verify on the "
            "device (python time_models.py there).")))  # fmt: skip
    blocks += _timing_blocks(run_dir, state)
    base_ms, floor_ms = state["base_ms"], state["floor_ms"]
    blocks.append(("p", (
        f"Floor: with every prunable layer at the narrowest width the run allows (min_channels, round_to and the "
        f"width rules), the model runs in {_ms(floor_ms)} ms against the base's {_ms(base_ms)} ms: "
        f"{_pct(floor_ms / base_ms)} of the base's latency does not shrink with the channels, so no pruning of this "
        f"model reaches more than {_x(base_ms / floor_ms)} here."
    )))  # fmt: skip
    ratio, measured = summary.get("macs_ratio"), summary.get("speedup")
    if finite(ratio) and ratio > 0:
        attainable = attainable_speedup(base_ms, floor_ms, ratio)
        seen = (f"this run measured {_x(measured)}, {_pct(measured / attainable)} of that" if finite(measured)
                else "the final model's speed-up is measured when the run finishes")  # fmt: skip
        blocks.append(("p", (
            f"At this run's MACs ratio ({_x(ratio)} fewer), a model whose time above that floor shrank in proportion "
            f"to its MACs would run {_x(attainable)} faster (base / (floor + (base - floor) / MACs ratio)); {seen}."
        )))  # fmt: skip
    rows = guidance_rows(run_dir)
    noise = (read_json(run_dir / LATENCY_TABLE_FILE, optional=True) or [{}])[0].get("noise")
    if rows:
        blocks += [
            ("h2", "Per-layer guidance"),
            ("p", "Measured on the base model (the first step's latency table): each layer whose width the run "
                  "chooses was halved in a copy (its least important channels gone), the copies were timed with the "
                  "base in the same rounds and run on training images. 'halving saves' is the share of the base's "
                  "latency that goes: where channels cost time (it includes the convs that read the layer and the "
                  "widths Ultralytics derives from it; two timings of the base differed by "
                  f"{_pct(noise)}, so smaller differences are noise). 'output change' is how far the detections "
                  "move (relative change of the class probabilities plus the confidence-weighted box shift): where "
                  "channels cost accuracy. 'layers narrowed' counts the layers the halving narrows, derived widths "
                  "included; 'importance removed' is the share of the layer's group L2 importance in the half that "
                  "goes (near 50 %: its channels are alike). The method cuts first where time saved per output "
                  "change is highest. Sorted by time."),
            ("table", ["layer", "base width", "final width", "halving saves (ms)", "halving saves", "output change",
                       "layers narrowed", "importance removed"],
             [[g["layer"], str(g["base_width"]), str(g["final_width"]), _ms(g["saved_ms"]), _pct(g["saved_share"]),
               f"{g['output_change']:.3f}", f"{g['layers_narrowed']:.1f}", _pct(g["importance_removed"])]
              for g in rows], None),
        ]  # fmt: skip
    return blocks


def _timing_blocks(run_dir: Path, state: dict[str, Any]) -> list[tuple]:
    """How long timing took, per step and in all, beside each step's whole time, and how far the latency model's
    predictions fell from what was measured."""
    rows = timing_rows(run_dir)
    if not rows:
        return []
    model = read_json(run_dir / LATENCY_MODEL_FILE, optional=True) or {}
    fits = [f for f in model.get("fits", []) if f.get("predicted")]
    errors = [abs(f["predicted"] / f["measured"] - 1) for f in fits]
    total = sum(r["seconds"] for r in rows)
    budget = f"; a step may spend {state['budget_s']:g} s on it (latency_budget)" if state.get("budget_s") else ""
    text = (f"Timing took {total:.0f} s in all{budget}. Each timing stops once its medians are steady to 0.5 % (after "
            f"7 rounds at least; 3 where the budget ends it).")  # fmt: skip
    if model:
        text += (f" The latency model was built at step {model['built_at_step']} (each layer cut to half and to its "
                 f"floor, timed once with the base) and reused after; later steps timed only their proposals and "
                 f"checkpoints. Over the {len(fits)} cut(s) timed since, its predicted speed-up was off by "
                 f"{_pct(sum(errors) / len(errors) if errors else None)} on average; cuts made together saved "
                 f"{_x(model.get('correction'))} the sum of their layers' single savings.")  # fmt: skip
    return [
        ("p", text),
        ("table", ["step", "timing (s)", "models timed", "model runs", "step (s), all of it", "model error"],
         [["floor" if r["step"] == 0 else str(r["step"]), f"{r['seconds']:.1f}", str(r["models"]), str(r["runs"]),
           f"{r['step_seconds']:.1f}" if finite(r["step_seconds"]) else "n/a", _pct(r["error"])] for r in rows],
         None),
    ]  # fmt: skip
