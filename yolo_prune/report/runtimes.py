"""The report's sections on where the model is deployed: base and final timed on every runtime installed (the
latency provider first), and with ``--int8`` the metric and latency of base and final in fp32 and INT8.

It reads the summary's ``runtimes`` and ``int8`` entries (``yolo_prune.deployment`` writes them); a summary without
them gets no section. The blocks are the report's neutral blocks.

Usage:
    from yolo_prune.report.runtimes import int8_blocks, runtime_blocks, runtime_lines

    blocks = runtime_blocks(summary) + int8_blocks(summary)
    print("\n".join(runtime_lines(summary)))  # one line per runtime, for the console

CLI (the report, with these sections):
    yolo-prune --report runs/prune/exp
"""

from __future__ import annotations

from typing import Any

from yolo_prune.report.format import NA, finite, fmt_latency, fmt_map, fmt_ratio
from yolo_prune.rundir import run_metrics


def runtime_lines(summary: dict[str, Any]) -> list[str]:
    """Per runtime, the final model's speed-up over the base, or why it was not measured."""
    return [f"{row['label']}: not measured ({row['error']})" if row.get("error") else
            f"{row['label']}: {fmt_ratio(row['speedup'])} faster ({fmt_latency(row['base'])} -> "
            f"{fmt_latency(row['final'])})" for row in (summary.get("runtimes") or {}).values()]  # fmt: skip


def fastest(summary: dict[str, Any]) -> str | None:
    """The runtime that runs the final model fastest here, of those that timed it."""
    timed = [r for r in (summary.get("runtimes") or {}).values() if finite((r.get("final") or {}).get("median_ms"))]
    return min(timed, key=lambda r: r["final"]["median_ms"])["label"] if timed else None


def runtime_blocks(summary: dict[str, Any]) -> list[tuple]:
    """A table of base and final latency per runtime, with each one's speed-up and the MACs ratio beside them."""
    runtimes = summary.get("runtimes") or {}
    if not runtimes:
        return []
    first = next(iter(runtimes.values()))
    lat = first.get("base") or {}
    how = (f"batch 1, imgsz {lat.get('imgsz')}, " if lat else "") + (
        "1 thread, each run timed by its CPU time" if lat.get("clock") == "cpu" else
        f"{lat['threads']} threads, wall clock" if lat.get("threads") else "each runtime's own threads, wall clock")
    rows = [[row["label"] + (" (latency provider)" if i == 0 else ""), fmt_latency(row.get("base")),
             fmt_latency(row.get("final")), fmt_ratio(row.get("speedup")) if not row.get("error") else NA,
             row.get("error") or ", ".join(str(f) for f in (row.get("files") or {}).values())]
            for i, row in enumerate(runtimes.values())]  # fmt: skip
    best = fastest(summary)
    text = (f"Base and final timed on every runtime installed here, each pair in interleaved rounds ({how}), each "
            f"from the files Ultralytics' exporter writes for it (in weights/). The MACs ratio is "
            f"{fmt_ratio(summary.get('macs_ratio'))}: a runtime whose speed-up falls far below it spends its time "
            "where the channels are not.")  # fmt: skip
    if best:
        text += f" The final model runs fastest on {best}."
    return [("h2", "Speed per runtime"), ("p", text),
            ("table", ["runtime", "base", "final", "speed-up", "files timed (or why not)"], rows, None)]


def int8_blocks(summary: dict[str, Any]) -> list[tuple]:
    """Base and final, fp32 and INT8, on the latency provider: the task's metrics and the measured latency."""
    table = summary.get("int8")
    if not table:
        return []
    metrics = run_metrics(summary)
    rows, base_ms = table["rows"], (table["rows"]["base fp32"].get("latency") or {}).get("median_ms")
    body = []
    for key, row in rows.items():
        ms = (row.get("latency") or {}).get("median_ms")
        speed = fmt_ratio(base_ms / ms) if finite(ms) and finite(base_ms) and ms > 0 else NA
        body.append([key, *(fmt_map(row.get(m)) for m in metrics), fmt_latency(row.get("latency")), speed,
                     str(row.get("file", ""))])  # fmt: skip
    return [
        ("h2", f"INT8 on {table['label']}"),
        ("p", "Base and final quantized to INT8 the way Ultralytics exports INT8 for the latency provider "
              "(quantize=8, calibrated on the data set's train split), beside their fp32 exports; each one's metrics "
              "from Ultralytics' validator on the exported model (val split), and the four timed in the same rounds. "
              "The speed-up is over the base in fp32: what pruning and INT8 give together."),
        ("table", ["model", *metrics.values(), "latency", "speed-up", "file"], body, None),
    ]  # fmt: skip
