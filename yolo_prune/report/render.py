"""The report's blocks written as Markdown and as a self-contained HTML page (plots inlined), and the command that
regenerates a run directory's plots and reports.

Usage:
    from yolo_prune.report.render import write_report

    md, html = write_report("runs/prune/exp")  # regenerates the plots, then report.md and report.html

CLI:
    python -m yolo_prune.report runs/prune/exp
    yolo-prune --report runs/prune/exp
"""

from __future__ import annotations

import argparse
import base64
import html
import sys
from pathlib import Path
from typing import Sequence

from yolo_prune.errors import UserError
from yolo_prune.report.load import load_run
from yolo_prune.report.plots import plot_run
from yolo_prune.report.sections import report_blocks
from yolo_prune.rundir import REPORT_HTML_FILE, REPORT_MD_FILE, write_text

_TEXT_COLUMNS = {"", "phase", "status", "checkpoint", "setting", "value", "package", "version", "layer", "met"}


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list[tuple], run_dir: Path) -> str:
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


def render_html(blocks: list[tuple]) -> str:
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
    plots = plot_run(run)
    blocks = report_blocks(run, plots)
    md, page = run["dir"] / REPORT_MD_FILE, run["dir"] / REPORT_HTML_FILE
    write_text(md, render_markdown(blocks, run["dir"]))
    write_text(page, render_html(blocks))
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
