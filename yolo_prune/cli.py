"""The ``yolo-prune`` command: a thin argparse layer over ``yolo_prune.prune``.

CLI:
    yolo-prune --model best.pt --data data.yaml --target-prune-rate 0.5
    yolo-prune --method slim --model best.pt --data data.yaml --sr 1e-2 --sparse-epochs 50
    yolo-prune --resume runs/prune/exp
    yolo-prune --report runs/prune/exp   # rebuild the report of a finished or interrupted run

Python:
    from yolo_prune.cli import main

    main(["--model", "best.pt", "--data", "data.yaml"])

Mistakes in the command or its files print one ``error:`` line and exit with code 2; an interrupted run prints the
command that resumes it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any, Sequence

from yolo_prune.errors import RunError, UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own is a usage block)
        self.exit(2, f"error: {message} (see yolo-prune --help)\n")


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _rate(text: str) -> float:
    v = float(text)
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return v


def _at_least(low: int):
    def parse(text: str) -> int:
        v = int(text)
        if v < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {text}")
        return v

    return parse


def _non_negative(text: str) -> float:
    v = float(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return v


def _min_channels(text: str) -> float:
    v = _non_negative(text)
    return int(v) if v >= 1 else v


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="yolo-prune",
        description="Structured pruning for Ultralytics YOLOv8 detectors: a smaller, faster model, measured.",
        epilog="Defaults come from cfg/default.yaml; --cfg FILE overrides them and flags override both. "
        "Outputs go to a fresh run directory (runs/prune/exp, exp2, ...).",
    )
    io = p.add_argument_group("input and output")
    io.add_argument("--model", help="trained detector .pt (never modified), or a model .yaml to build from scratch")
    io.add_argument("--data", help="data set yaml in Ultralytics' format (see scripts/voc_split.py)")
    io.add_argument("--cfg", help="settings file in the format of cfg/default.yaml")
    io.add_argument("--project", help="parent folder of run directories (default runs/prune)")
    io.add_argument("--name", help="run directory name; exp, exp2, ... are never overwritten (default exp)")
    io.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run after its last finished step")
    io.add_argument("--report", metavar="RUN_DIR", help="only rebuild the plots and report of a run directory")
    pr = p.add_argument_group("pruning")
    pr.add_argument("--method", choices=("depgraph", "slim"), help="depgraph (default) or slim (network slimming)")
    pr.add_argument("--target-prune-rate", type=_rate,
                    help="share of each prunable layer's channels removed by the last step, in (0, 1) (default 0.5)")
    pr.add_argument("--iterative-steps", type=_at_least(1), help="prune + fine-tune steps to reach it (default 16)")
    pr.add_argument("--max-map-drop", type=_non_negative,
                    help="stop when mAP50-95 falls more than this (absolute) below the base; the last good step is "
                    "kept (default 0.2)")
    pr.add_argument("--round-to", type=_at_least(1), help="keep channel counts multiples of N (8/16 helps speed)")
    pr.add_argument("--prune-head", type=_bool, help="also prune the Detect head's inner convs (default true)")
    sl = p.add_argument_group("network slimming (--method slim)")
    sl.add_argument("--sr", type=_non_negative, help="L1 penalty on BatchNorm scales (default 0.01)")
    sl.add_argument("--sr-anneal", type=_bool, help="decay sr linearly to 10%% by the last sparse epoch (default true)")
    sl.add_argument("--sparse-epochs", type=_at_least(0),
                    help="sparse-training epochs; 0 prunes an already sparse model (default 50)")
    sl.add_argument("--min-channels", type=_min_channels,
                    help="per-layer floor: share (<1) or count (>=1) of channels always kept (default 0.1)")
    tr = p.add_argument_group("fine-tuning (Ultralytics train settings)")
    tr.add_argument("--epochs", type=_at_least(0), help="fine-tuning epochs per step; 0 skips it (default 30)")
    tr.add_argument("--imgsz", type=_at_least(32), help="image size, a multiple of 32 (default 640)")
    tr.add_argument("--batch", type=_at_least(1), help="batch size (default 16)")
    tr.add_argument("--device", help="cpu, 0, or 0,1,2,3 for several GPUs (default: first GPU, else CPU)")
    tr.add_argument("--workers", type=_at_least(0), help="data-loading workers (default 8)")
    tr.add_argument("--lr0", type=_non_negative, help="initial learning rate (default 0.01)")
    tr.add_argument("--seed", type=_at_least(0), help="random seed: same seed, same channels (default 0)")
    tr.add_argument("--amp", type=_bool, help="mixed precision on CUDA (default true)")
    rp = p.add_argument_group("reporting")
    rp.add_argument("--latency-runs", type=_at_least(1), help="timed ONNX Runtime runs per model (default 50)")
    rp.add_argument("--latency-provider", choices=("cpu", "cuda"), help="ONNX Runtime provider for latency")
    verbosity = rp.add_mutually_exclusive_group()
    verbosity.add_argument("--verbose", dest="verbose", action="store_const", const=True,
                           help="show Ultralytics' own progress (default)")
    verbosity.add_argument("--quiet", dest="verbose", action="store_const", const=False,
                           help="only the step lines and the final summary")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = vars(build_parser().parse_args(argv))
    report_dir = args.pop("report")
    try:
        if report_dir is not None:
            from yolo_prune.report import main as report_main

            return report_main([report_dir])
        from yolo_prune.pipeline import prune

        command = "yolo-prune " + " ".join(shlex.quote(a) for a in argv)
        result = prune(command=command, **args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        run_dir = _latest_run(args)
        hint = f"; resume with: yolo-prune --resume {run_dir}" if run_dir else ""
        print(f"\ninterrupted{hint}", file=sys.stderr)
        return 130
    return 0 if result is not None else 1


def _latest_run(args: dict[str, Any]) -> str | None:
    """The run directory a Ctrl-C interrupted: the resumed one, or the newest under the project folder."""
    from pathlib import Path

    if args.get("resume"):
        return args["resume"]
    project = Path(args.get("project") or "runs/prune")
    runs = [p for p in project.glob(f"{args.get('name') or 'exp'}*") if (p / "settings.yaml").is_file()]
    return str(max(runs, key=lambda p: p.stat().st_mtime)) if runs else None


if __name__ == "__main__":
    sys.exit(main())
