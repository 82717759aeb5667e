"""What the report says: the base-vs-final table and the lines around it, the step table, the notes on widths and
on training further, and the whole report as neutral blocks that ``render`` writes as Markdown and as HTML alike.

A block is a tuple: ``("h1" | "h2" | "p" | "warn" | "code", text)``, ``("table", headers, rows, row_classes)`` or
``("img", caption, path)``.

Usage:
    from yolo_prune.report.sections import format_summary_table, report_blocks, slow_widths, slow_widths_line

    print(format_summary_table(summary))  # base-vs-final table for the terminal, with its notes
    line = slow_widths_line(slow_widths(layers, settings))  # None when every width suits the latency provider
    blocks = report_blocks(load_run("runs/prune/exp"), plots)  # [("h1", "Pruning report: ..."), ...]

CLI (the report these sections make up):
    yolo-prune --report runs/prune/exp
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from yolo_prune.report.format import (
    NA, finite, fixed, fmt_bytes, fmt_latency, fmt_macs, fmt_map, fmt_params, fmt_ratio, fmt_seconds, fmt_share,
)  # fmt: skip
from yolo_prune.report.load import num
from yolo_prune.report.runtimes import int8_blocks, runtime_blocks
from yolo_prune.report.speed import speed_blocks
from yolo_prune.rundir import DEFAULT_METRICS, METRICS_KEY, STEPS_FILE, SUMMARY_FILE, run_metrics

ONNX_FLAG = "ONNX GAP EXCEEDS TOLERANCE"


def _change(base: Any, final: Any, more: str, less: str) -> str:
    """base/final as "2.31x fewer" (or "1.10x more" when it grew), n/a without both numbers."""
    if not (finite(base) and finite(final)) or base <= 0 or final <= 0:
        return NA
    r = base / final
    return f"{fmt_ratio(r)} {less}" if r >= 1 else f"{fmt_ratio(1 / r)} {more}"


def _speed(speedup: Any) -> str:
    if not finite(speedup) or speedup <= 0:
        return NA
    return f"{fmt_ratio(speedup)} faster" if speedup >= 1 else f"{fmt_ratio(1 / speedup)} slower"


def _delta(base: Any, final: Any) -> str:
    return f"{'+' if final >= base else ''}{fixed(final - base, 3)}" if finite(base) and finite(final) else NA


def onnx_gap_exceeded(summary: dict) -> bool:
    """True when ONNX Runtime's mAP differs from PyTorch's by more than the run's tolerance (either direction)."""
    gap, tol = summary.get("onnx_gap"), summary.get("onnx_tolerance")
    return finite(gap) and finite(tol) and abs(gap) > tol


def summary_rows(summary: dict) -> list[tuple[str, str, str, str]]:
    """(quantity, base, final, change) rows of the base-vs-final table, shared by terminal, Markdown and HTML."""
    b, f = summary.get("base") or {}, summary.get("final") or {}
    rows = [
        ("MACs", fmt_macs(b.get("macs")), fmt_macs(f.get("macs")),
         f"{fmt_ratio(summary['macs_ratio'])} fewer" if finite(summary.get("macs_ratio"))
         else _change(b.get("macs"), f.get("macs"), "more", "fewer")),
        ("params", fmt_params(b.get("params")), fmt_params(f.get("params")),
         _change(b.get("params"), f.get("params"), "more", "fewer")),
        (".pt size", fmt_bytes(b.get("pt_bytes")), fmt_bytes(f.get("pt_bytes")),
         _change(b.get("pt_bytes"), f.get("pt_bytes"), "larger", "smaller")),
        ("ONNX size", fmt_bytes(b.get("onnx_bytes")), fmt_bytes(f.get("onnx_bytes")),
         _change(b.get("onnx_bytes"), f.get("onnx_bytes"), "larger", "smaller")),
    ]  # fmt: skip
    for prefix, where in (("", "PyTorch"), ("onnx_", "ONNX Runtime"), ("yolo_val_", "yolo val")):
        for metric, label in run_metrics(summary).items():
            key = prefix + metric
            before, after = b.get(key), f.get(key)
            rows.append((f"{label} ({where})", fmt_map(before), fmt_map(after), _delta(before, after)))
    lat_b, lat_f = b.get("latency"), f.get("latency")
    batch = (lat_b or lat_f or {}).get("batch")
    label = "latency median (p10-p90)" + (f", batch {batch}" if batch is not None else "")
    rows.append((label, fmt_latency(lat_b), fmt_latency(lat_f), _speed(summary.get("speedup"))))
    lb_b, lb_f = b.get("latency_batch"), f.get("latency_batch")
    if lb_b or lb_f:
        batch = (lb_b or lb_f or {}).get("batch")
        medians = [(d or {}).get("median_ms") for d in (lb_b, lb_f)]
        ratio = medians[0] / medians[1] if all(finite(m) and m > 0 for m in medians) else None
        rows.append(
            (f"latency median (p10-p90), batch {batch}", fmt_latency(lb_b), fmt_latency(lb_f), _speed(ratio))
        )
    return rows


def _speed_line(summary: dict) -> str:
    """Measured speed-up next to the MACs ratio, because fewer MACs often buy less time than they promise."""
    lat = (summary.get("final") or {}).get("latency") or (summary.get("base") or {}).get("latency") or {}
    where = ", ".join(
        s for s in (
            _runtime_label(str(lat["provider"])) if lat.get("provider") else "",
            f"batch {lat['batch']}" if lat.get("batch") is not None else "",
            f"imgsz {lat['imgsz']}" if lat.get("imgsz") is not None else "",
            f"{lat['runs']} runs" if lat.get("runs") is not None else "",
            "1 thread, timed by its CPU time" if lat.get("clock") == "cpu" else
            f"{lat['threads']} threads" if lat.get("threads") else "",
        ) if s
    )  # fmt: skip
    speed = f"{fmt_ratio(summary.get('speedup'))} measured" if finite(summary.get("speedup")) else "n/a (not measured)"
    return f"Speed-up: {speed}; MACs ratio: {fmt_ratio(summary.get('macs_ratio'))}" + (f" ({where})" if where else "")


def _runtime_label(provider: str) -> str:
    from yolo_prune.runtimes import RUNTIMES

    return RUNTIMES[provider].label if provider in RUNTIMES else provider


def _gap_line(summary: dict) -> str:
    gap, tol = summary.get("onnx_gap"), summary.get("onnx_tolerance")
    label = _deciding(summary)[1]
    if not finite(gap):
        return f"ONNX Runtime vs PyTorch {label} gap: not measured."
    if onnx_gap_exceeded(summary):
        return (
            f"{ONNX_FLAG}: ONNX Runtime and PyTorch {label} differ by {fmt_map(gap)} (tolerance {fmt_map(tol)}); "
            "check the exported model before deploying it."
        )
    return f"ONNX Runtime vs PyTorch {label} gap: {fmt_map(gap)} (tolerance {fmt_map(tol)}): within tolerance."


def _deciding(run: dict) -> tuple[str, str]:
    """The deciding metric of the run whose settings or summary ``run`` is: (our name, label)."""
    return next(iter(run_metrics(run).items()))


def decides_line(summary: dict) -> str:
    """Which metric decides, for a task that logs more than one kind (mask and box, pose and box)."""
    metrics = run_metrics(summary)
    label = next(iter(metrics.values()))
    others = list(metrics.values())[1:]
    beside = f"; {', '.join(others)} {'is' if len(others) == 1 else 'are'} shown beside it" if others else ""
    return f"{label} decides (--max-map-drop, the early stop, whether a fine-tuning is kept){beside}."


def yolo_val_line(summary: dict, short: bool = False) -> str:
    """Why the 'yolo val' rows differ from the PyTorch ones: users compare them with what Ultralytics prints."""
    batch = summary.get("yolo_val_batch")
    command = "yolo val model=<.pt> data=<data>" + (f" batch={batch}" if batch is not None else "")
    if summary.get("yolo_val_rect") is False:  # a classifier: its validator sees what the other rows see
        return (f"The (yolo val) rows = what `{command}` reports; its validator resizes and centre-crops every image "
                "as the run's own validation and the ONNX model's input do, so the rows agree.")  # fmt: skip
    if short:
        return (f"The (yolo val) rows = what `{command}` reports (rectangular batches); the other accuracy rows "
                "letterbox every image to imgsz x imgsz, as the ONNX model sees it (see the report).")  # fmt: skip
    return (
        "The (PyTorch) and (ONNX Runtime) rows and the steps: every image letterboxed to imgsz x imgsz (rect=False), "
        f"the input of the exported model. The (yolo val) rows: what `{command}` reports, with rectangular batches "
        "(rect=True: each batch letterboxed to its images' aspect ratio plus half a stride of padding, e.g. 160 x 160 "
        "for square images at imgsz 128), so the two differ."
    )


def no_step_kept_line(summary: dict) -> str:
    """One line for a run whose every pruning step lost too much: its final model is the base model."""
    why = summary.get("rejected") or {}
    lost = (f" (step {why['step']} lost {fmt_map(why.get('map_drop'))} {_deciding(summary)[1]}, more than max_map_drop "
            f"{summary.get('max_map_drop')})" if why else "")  # fmt: skip
    base = "the base model" + (f" after {summary['final_phase']} training" if summary.get("final_phase") not in
                               (None, "base") else "")  # fmt: skip
    return f"no pruning step was kept{lost}: final.pt is {base}, unpruned"


def slow_widths(layers: dict | None, settings: dict) -> dict[str, Any]:
    """Pruned widths that are not multiples of what the run's latency provider runs fast (``fast_multiple``), each
    with why it is so: rounding could not apply (a layer narrower than ``round_to``), ``round_to`` itself, or a width
    Ultralytics derives from others. The head's prediction convs (class count, box encoding) are left out."""
    from yolo_prune.runtimes import get_runtime

    runtime = get_runtime(str(settings.get("latency_provider") or "cpu"))
    multiple = runtime.fast_multiple
    round_to = int(settings.get("round_to") or 1)
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
    return {"runtime": runtime.label, "multiple": multiple, "round_to": round_to, "narrow": narrow, "slow": slow,
            "layers": len(final) - len(fixed & set(final))}  # fmt: skip


def slow_widths_line(check: dict[str, Any]) -> str | None:
    """One line flagging widths the runtime runs slower, or None when every width suits it."""
    if not check["slow"]:
        return None
    return (f"{len(check['slow'])} of {check['layers']} conv widths are not multiples of {check['multiple']}, which "
            f"{check['runtime']}'s kernels run slower (e.g. {check['slow'][0][0]}: "
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
        out.append(f"ONNX export was not possible, so ONNX sizes, ONNX Runtime accuracy and latency are n/a: "
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
    if len(run_metrics(summary)) > 2:
        lines.append(decides_line(summary))
    return "\n".join(lines)


def summary_from_steps(rows: Sequence[dict], run_dir: str | Path | None = None,
                       metrics: dict[str, str] | None = None) -> dict:  # fmt: skip
    """A summary in ``summary.json``'s shape from the step log alone (base row vs last kept row) of a run judged by
    ``metrics`` (``run_metrics``), for unfinished runs; with ``run_dir``, the sizes of the checkpoints that exist
    there."""
    metrics = metrics or DEFAULT_METRICS
    base = next((r for r in rows if r.get("phase") == "base"), rows[0])
    final = last_kept(rows)

    def side(r: dict) -> dict:
        unmeasured = ("onnx_bytes", "latency", *(f"{p}{m}" for p in ("yolo_val_", "onnx_") for m in metrics))
        pt = Path(run_dir) / str(r.get("checkpoint")) if run_dir is not None and r.get("checkpoint") else None
        return {"macs": r.get("macs"), "params": r.get("params"), **{m: r.get(m) for m in metrics},
                "pt_bytes": pt.stat().st_size if pt and pt.is_file() else None,
                **dict.fromkeys(unmeasured)}  # fmt: skip

    bm, fm = base.get("macs"), final.get("macs")
    ratio = bm / fm if finite(bm) and finite(fm) and fm > 0 else None
    return {"base": side(base), "final": side(final), "speedup": None, "macs_ratio": ratio, "onnx_gap": None,
            "onnx_tolerance": None, METRICS_KEY: dict(metrics)}  # fmt: skip


def last_kept(rows: Sequence[dict]) -> dict:
    """The row of the final model: the last step not rolled back (the base's row when every step was)."""
    kept = [r for r in rows if r.get("status") != "rejected"]
    return kept[-1] if kept else rows[0]


def _step_table(rows: Sequence[dict], metrics: dict[str, str]) -> tuple[list[str], list[list[str]], list[str]]:
    headers = [
        "step", "phase", "target removed", "removed", "MACs", "MACs left", "params", "params left",
        *(h for label in metrics.values() for h in (f"{label} pruned", label)), f"{next(iter(metrics.values()))} drop",
        "time", "status", "checkpoint",
    ]  # fmt: skip
    body, classes = [], []
    for r in rows:
        rejected = r.get("status") == "rejected"
        body.append([
            str(r.get("step", NA)), str(r.get("phase") or NA), fmt_share(r.get("target_rate")),
            fmt_share(r.get("rate")), fmt_macs(r.get("macs")), fmt_share(r.get("macs_ratio")), fmt_params(r.get("params")),
            fmt_share(r.get("params_ratio")), *(fmt_map(r.get(k)) for m in metrics for k in (f"{m}_pruned", m)),
            fmt_map(r.get("map_drop")), fmt_seconds(r.get("seconds")),
            "REJECTED" if rejected else str(r.get("status") or NA),
            str(r.get("checkpoint") or "-"),
        ])  # fmt: skip
        classes.append("rejected" if rejected else "")
    return headers, body, classes


_PLOT_CAPTIONS = {
    "map_vs_step": "The task's metrics after pruning and after fine-tuning, per step (red: rejected steps, rolled "
                   "back)",
    "map_vs_macs": "The task's metrics against the remaining MACs share: the accuracy you keep for the compute you "
                   "keep",
    "macs_params": "Remaining MACs and params per step",
    "channels": "Output channels per conv layer, base vs final",
    "gamma_hist": "BatchNorm |gamma| before and after sparse training",
    "sparsity": "Sparse training per epoch",
    "search": "Width search: every candidate scored, speed-up against the metric on the search's validation subset",
}


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def report_blocks(run: dict[str, Any], plots: dict[str, Path]) -> list[tuple]:
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
    final_row = last_kept(rows)
    final_name = f"step {final_row.get('step')} ({final_row.get('phase')})"
    blocks.append(("h2", "Result: base vs final"))
    if summary is None:
        summary = summary_from_steps(rows, run["dir"], run_metrics(settings))
        blocks.append((
            "warn",
            f"Interrupted run: {SUMMARY_FILE} is missing, so this run did not finish (or is still running). "
            f"{len(rows)} step(s) are logged; 'final' below is the last kept step, {final_name}, taken from "
            f"{STEPS_FILE}. Latency, ONNX sizes and the yolo val and ONNX Runtime accuracy are measured only at the "
            "end, so they read n/a; .pt sizes are those of the checkpoints in the run directory.",
        ))  # fmt: skip
    else:
        blocks.append(("p", f"final = the run's final model; its last kept step is {final_name}."))
    blocks += [("warn", note) for note in notes(summary)]
    blocks.append(("table", ["", "base", "final", "change"], [list(r) for r in summary_rows(summary)], None))
    blocks.append(("p", _speed_line(summary) + ". Sizes in MB = 10^6 bytes; accuracy change = final - base."))
    blocks.append(("p", decides_line(summary)))
    gap = _gap_line(summary)
    blocks.append(("warn" if onnx_gap_exceeded(summary) else "p", gap))
    blocks.append(("p", yolo_val_line(summary)))
    blocks += runtime_blocks(summary) + int8_blocks(summary)  # none for a run without them

    blocks.append(("h2", "Steps"))
    rejected = sum(r.get("status") == "rejected" for r in rows)
    total = sum(num(r.get("seconds")) for r in rows if finite(r.get("seconds")))
    blocks.append((
        "p",
        f"{len(rows)} row(s), {rejected} rejected (crossed max_map_drop and rolled back); total step time "
        f"{fmt_seconds(total)}. 'pruned' = right after pruning, before fine-tuning; 'left' = remaining share of base.",
    ))  # fmt: skip
    headers, body, classes = _step_table(rows, run_metrics(settings))
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
        blocks.append(("p", f"Every pruned width is a multiple of {check['multiple']}, which "
                            f"{check['runtime']}'s kernels run at full speed."))  # fmt: skip
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
