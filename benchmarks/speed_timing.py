"""The speed target's timing cost, before and after the latency model: two runs of the same command, one with the
code before (every step times a latency table of every layer and its proposals) and one after (a latency model
built once, then only proposals timed, each timing stopped at its precision or budget), read from their run
directories into one table.

Usage (the runs first, the same command with each code on the path; --epochs 0, so a step is its timing, its
exports, its cut and its validation):
    PYTHONPATH=<old checkout> yolo-prune --model yolov8s.yaml --data data.yaml --target-speedup 2 --iterative-steps 2 \\
        --epochs 0 --imgsz 320 --latency-threads 1 --workers 0 --device cpu --project /tmp/runs --name before
    PYTHONPATH=$PWD yolo-prune ... --name after
    python benchmarks/speed_timing.py --run before=/tmp/runs/before:1433 --run after=/tmp/runs/after:563

Any number of runs (``--run NAME=DIR[:WALL]``), e.g. one pair per model and image size, ``--out`` naming the files.

Writes benchmarks/results/<out>.json (per run and step: the step's seconds, the seconds spent timing where the run
recorded them, the models timed, the step's aim and the speed-up measured) and <out>.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def read_run(run: Path, wall: float | None) -> dict:
    """One run's steps: seconds, timing (if recorded), models timed, proposals, aim and measured speed-up."""
    steps = {r["step"]: r for r in json.loads((run / "steps.json").read_text()) if r["phase"] == "prune"}
    state = json.loads((run / "speed_target.json").read_text())
    tables = {t["step"]: t for t in json.loads((run / "latency_table.json").read_text())}
    summary = json.loads((run / "summary.json").read_text())
    timing: dict[int, dict] = {}
    for t in state.get("timing", []):
        s = timing.setdefault(t["step"], {"seconds": 0.0, "models": 0})
        s["seconds"] += t["seconds"]
        s["models"] += t["models"]
    rows = []
    for e in state["steps"]:
        k, table = e["step"], tables[e["step"]]
        old_models = len(table["layers"]) + 3 + 2 * len(table["proposals"]) + 2  # table, proposals, checkpoint
        rows.append({
            "step": k, "step_seconds": steps[k]["seconds"], "timing_seconds": timing.get(k, {}).get("seconds"),
            "models_timed": timing[k]["models"] if k in timing else old_models,
            "proposals": len(table["proposals"]), "aim": table["step_target"], "speedup": e["speedup"],
            "model_error": [p.get("error") for p in table["proposals"]],
        })  # fmt: skip
    return {"run": str(run), "wall_seconds": wall, "base_ms": state["base_ms"], "steps": rows,
            "before_run_timing_seconds": timing.get(0, {}).get("seconds"), "final_speedup": summary["speedup"],
            "met_at_step": state["met_at_step"]}  # fmt: skip


def table(results: dict) -> str:
    lines = ["| code | step | aim | measured | proposals | models timed | timing (s) | step (s) |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, r in results.items():
        for s in r["steps"]:
            timing = f"{s['timing_seconds']:.0f}" if s["timing_seconds"] is not None else "not recorded"
            lines.append(f"| {name} | {s['step']} | {s['aim']:.2f}x | {s['speedup']:.2f}x | {s['proposals']} | "
                         f"{s['models_timed']} | {timing} | {s['step_seconds']:.0f} |")  # fmt: skip
        wall = f"{r['wall_seconds']:.0f} s" if r["wall_seconds"] else "n/a"
        lines.append(f"| {name} | run | | final {r['final_speedup']:.2f}x | | | | {wall} wall in all |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, metavar="NAME=DIR[:WALL]",
                        help="a run directory under a name, with the whole run's wall seconds (repeat it)")
    parser.add_argument("--out", default="speed_timing", help="results/<out>.md and .json")
    parser.add_argument("--note", default="", help="a line for the table's head: machine, load, commits")
    args = parser.parse_args()
    results = {}
    for item in args.run:
        name, _, where = item.partition("=")
        folder, _, wall = where.partition(":")
        results[name] = read_run(Path(folder), float(wall) if wall else None)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps({"note": args.note, **results}, indent=2) + "\n")
    md = f"# The speed target's timing cost\n\n{args.note}\n\n{table(results)}"
    (RESULTS / f"{args.out}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
