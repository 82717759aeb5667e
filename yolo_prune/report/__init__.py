"""Plots and reports for a pruning run directory: did it get faster, and what did it cost?

Everything here only reads the files the pipeline writes into a run directory (``settings.yaml``, ``steps.json``,
``layers.json``, ``summary.json``, ``sparsity.csv``, ``gamma_before.npy``, ``gamma_after.npy``, a speed target's
``speed_target.json`` and ``latency_table.json``, and the sizes of the checkpoints in ``weights/``; the names are
``yolo_prune.rundir``'s) and writes ``plots/*.png`` (each with a ``plots/<name>.json`` holding the exact series
drawn), ``report.md`` and a self-contained ``report.html``. It works on a finished run and on an interrupted one
(only some files present), and regenerating from the same directory gives byte-identical files.

The parts: ``load`` reads the run directory, ``plots`` draws, ``format`` writes numbers, ``sections`` says what
the report says (as neutral blocks), ``speed`` adds a speed target's sections, ``render`` writes the blocks as
Markdown and HTML.

Usage:
    from yolo_prune.report import plot_steps, write_report, format_summary_table

    plot_steps("runs/prune/exp")               # {"map_vs_step": Path(".../plots/map_vs_step.png"), ...}
    md, html = write_report("runs/prune/exp")  # regenerates the plots, then report.md and report.html
    print(format_summary_table(summary))       # base-vs-final table for the terminal

CLI:
    python -m yolo_prune.report runs/prune/exp
    yolo-prune --report runs/prune/exp
"""

from yolo_prune.report.format import (
    NA, fmt_bytes, fmt_latency, fmt_macs, fmt_map, fmt_params, fmt_ratio, fmt_seconds, fmt_share,
)  # fmt: skip
from yolo_prune.report.load import load_run, load_steps, step_series
from yolo_prune.report.plots import plot_channels, plot_gamma_hist, plot_map, plot_size, plot_sparsity, plot_steps
from yolo_prune.report.render import main, write_report
from yolo_prune.report.sections import (
    ONNX_FLAG, format_summary_table, no_step_kept_line, notes, onnx_gap_exceeded, slow_widths, slow_widths_line,
    stock_training_line, summary_from_steps, summary_rows, yolo_val_line,
)  # fmt: skip
from yolo_prune.report.speed import guidance_rows, speed_blocks

__all__ = [
    "NA", "ONNX_FLAG", "fmt_bytes", "fmt_latency", "fmt_macs", "fmt_map", "fmt_params", "fmt_ratio", "fmt_seconds",
    "fmt_share", "format_summary_table", "guidance_rows", "load_run", "load_steps", "main", "no_step_kept_line",
    "notes", "onnx_gap_exceeded", "plot_channels", "plot_gamma_hist", "plot_map", "plot_size", "plot_sparsity",
    "plot_steps", "slow_widths", "slow_widths_line", "speed_blocks", "step_series", "stock_training_line",
    "summary_from_steps", "summary_rows", "write_report", "yolo_val_line",
]  # fmt: skip
