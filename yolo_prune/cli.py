"""The ``yolo-prune`` command: a thin argparse layer over ``yolo_prune.prune``.

CLI:
    yolo-prune --model best.pt --data data.yaml --target-prune-rate 0.5
    yolo-prune --method slim --model best.pt --data data.yaml --sr 1e-2 --sparse-epochs 50
    yolo-prune --resume runs/prune/exp
    yolo-prune --report runs/prune/exp   # rebuild the report of a finished or interrupted run
    yolo-prune --version                 # yolo-prune's version and those of the libraries it depends on

Python:
    from yolo_prune.cli import main

    main(["--model", "best.pt", "--data", "data.yaml"])

Mistakes in the command or its files print one ``error:`` line and exit with code 2; a run that cannot finish (e.g.
ONNX export refused, a full disk, out of memory) one ``error:`` line and exit code 1; a run stopped by Ctrl-C,
SIGTERM or SIGHUP exits with the shell's code for that signal (130, 143, 129). The last two print the command that
resumes the run.
"""

from __future__ import annotations

import _thread
import argparse
import errno
import glob
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Sequence

import yolo_prune
from yolo_prune.errors import RunError, UserError
from yolo_prune.settings import MIN_CHANNELS_RULE, valid_min_channels


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own is a usage block)
        self.exit(2, f"error: {message} (see yolo-prune --help)\n")


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


# argparse names a failed type conversion by the function's name ("invalid parse value"); these say what was expected.
def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _rate(text: str) -> float:
    v = _float(text)
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return v


def _at_least(low: int):
    def parse(text: str) -> int:
        v = _int(text)
        if v < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {text}")
        return v

    return parse


def _non_negative(text: str) -> float:
    v = _float(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return v


def _above_one(text: str) -> float:
    v = float(text)
    if not v > 1:
        raise argparse.ArgumentTypeError(f"must be > 1 (a speed-up over the base), got {text}")
    return v


def _positive(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def _min_channels(text: str) -> float:
    v = _non_negative(text)
    if not valid_min_channels(v):
        raise argparse.ArgumentTypeError(f"must be {MIN_CHANNELS_RULE}, got {text}")
    return int(v) if v >= 1 else v


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="yolo-prune",
        description="Structured pruning for Ultralytics YOLOv8, YOLO11 and YOLO26 detectors: a smaller, faster model, "
        "measured, that stays a stock Ultralytics model.",
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
    io.add_argument("--version", action=_Version, help="print the versions of yolo-prune and its libraries, and exit")
    pr = p.add_argument_group("pruning")
    pr.add_argument("--method", choices=("depgraph", "slim", "latency", "finetune"),
                    help="depgraph (default), slim (network slimming), latency (widths for a measured speed-up; a "
                    "speed target selects it) or finetune (train a pruned model further)")
    pr.add_argument("--target-prune-rate", type=_rate,
                    help="share of each prunable layer's channels removed by the last step, in (0, 1) (default 0.5)")
    pr.add_argument("--iterative-steps", type=_at_least(1), help="prune + fine-tune steps to reach it (default 16)")
    pr.add_argument("--max-map-drop", type=_non_negative,
                    help="stop when mAP50-95 falls more than this (absolute) below the base; the last good step is "
                    "kept (default 0.2)")
    pr.add_argument("--round-to", type=_at_least(1), help="keep channel counts multiples of N (8/16 helps speed)")
    pr.add_argument("--prune-head", type=_bool, help="also prune the Detect head's inner convs (default true)")
    pr.add_argument("--yaml-widths", type=_bool,
                    help="only channel counts an Ultralytics model yaml can state, so that 'yolo train "
                    "model=final.pt' keeps the pruned model (default true; needs --round-to a multiple of 8)")
    sp = p.add_argument_group("speed target (--method latency)")
    sp.add_argument("--target-speedup", type=_above_one,
                    help="prune until ONNX Runtime measures this speed-up over the base, e.g. 2; selects --method "
                    "latency")
    sp.add_argument("--target-latency-ms", type=_positive,
                    help="or until the model runs in this many ms here (turned into a speed-up at the start)")
    sl = p.add_argument_group("network slimming (--method slim)")
    sl.add_argument("--sr", type=_non_negative,
                    help="L1 penalty on BatchNorm scales: each optimizer step moves every |gamma| lr*sr toward zero "
                    "(default 0.01)")
    sl.add_argument("--sr-anneal", type=_bool,
                    help="sr falls linearly from 100%% in the first sparse epoch to 10%% in the last (default true)")
    sl.add_argument("--sparse-epochs", type=_at_least(0),
                    help="sparse-training epochs; 0 prunes an already sparse model (default 50)")
    sl.add_argument("--min-channels", type=_min_channels,
                    help="per-layer floor: share (<1) or count (>=1) of channels always kept (default 0.1; also "
                    "--method latency)")
    ds = p.add_argument_group("distillation")
    ds.add_argument("--distill", type=_bool, nargs="?", const=True, metavar="BOOL",
                    help="fine-tuning also learns the teacher's class scores and box distributions (default false)")
    ds.add_argument("--teacher", metavar="MODEL_PT",
                    help="the teacher .pt (default: the run's base model, i.e. --model; needed with --method finetune)")
    tr = p.add_argument_group("fine-tuning (Ultralytics train settings)")
    tr.add_argument("--epochs", type=_at_least(0), help="fine-tuning epochs per step; 0 skips it (default 30)")
    tr.add_argument("--imgsz", type=_at_least(32), help="image size, a multiple of 32 (default 640)")
    tr.add_argument("--batch", type=_at_least(1), help="batch size (default 16)")
    tr.add_argument("--device", help="cpu, 0, or 0,1,2,3 for several GPUs (default: first GPU, else CPU)")
    tr.add_argument("--workers", type=_at_least(0), help="data-loading workers (default 8)")
    tr.add_argument("--lr0", type=_non_negative,
                    help="initial learning rate (default 0.01); Ultralytics' default optimizer 'auto' picks its own, "
                    "so set optimizer in --cfg for it to apply")
    tr.add_argument("--seed", type=_at_least(0), help="random seed: same seed, same channels (default 0)")
    tr.add_argument("--amp", type=_bool, help="mixed precision on CUDA (default true)")
    rp = p.add_argument_group("reporting")
    rp.add_argument("--latency-runs", type=_at_least(1), help="timed ONNX Runtime runs per model (default 50)")
    rp.add_argument("--latency-provider", choices=("cpu", "cuda"), help="ONNX Runtime provider for latency")
    rp.add_argument("--latency-threads", type=_at_least(1),
                    help="ONNX Runtime intra-op threads for every timing (default: its own, all cores; 1 is steadiest "
                    "on a busy machine)")
    verbosity = rp.add_mutually_exclusive_group()
    verbosity.add_argument("--verbose", dest="verbose", action="store_const", const=True,
                           help="show Ultralytics' own progress (default)")
    verbosity.add_argument("--quiet", dest="verbose", action="store_const", const=False,
                           help="only the step lines and the final summary")
    return p


class _Version(argparse.Action):
    """``--version``: yolo-prune's version and those of the libraries whose behaviour it depends on, on one line
    (argparse's own version action wraps it at the terminal width)."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        import importlib.metadata

        found = []
        for dist in ("ultralytics", "torch-pruning", "torch", "onnxruntime", "onnxruntime-gpu"):
            try:
                found.append(f"{dist} {importlib.metadata.version(dist)}")
            except importlib.metadata.PackageNotFoundError:
                continue
        print(f"yolo-prune {yolo_prune.__version__} ({', '.join(found)})")
        parser.exit()


class _SignalsStop:
    """Make a single Ctrl-C (SIGINT), SIGTERM (what ``kill``, ``docker stop`` and job schedulers send) or SIGHUP (a
    closed terminal) stop the run cleanly, each as a KeyboardInterrupt. Python drops a KeyboardInterrupt that lands
    in a finaliser or weakref callback (printing an 'Exception ignored' traceback), and torch-pruning's tracer has a
    bare ``except``, so the run could go on: until ``main`` has caught the interrupt, the signal is sent again every
    second, and dropped ones are not printed. One that lands in a C extension's import comes out as another error
    (numpy: "ImportError: cannot load module more than once per process"); ``received`` (the signal's number) tells
    ``main`` that such an error is the signal."""

    def __init__(self) -> None:
        self.caught = False
        self.received: int | None = None
        self._stopped = threading.Event()
        self._resender: threading.Thread | None = None
        self._old_handlers: dict[int, Any] = {}
        # Only in the main thread (signal handlers live there), and not for a signal that is ignored (SIGINT in a
        # background job, SIGHUP under nohup) or already handled by the program that called ``main``.
        main_thread = threading.current_thread() is threading.main_thread()
        defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
        if hasattr(signal, "SIGHUP"):
            defaults[signal.SIGHUP] = signal.SIG_DFL
        self._signals = [n for n, default in defaults.items() if main_thread and signal.getsignal(n) is default]

    def __enter__(self) -> _SignalsStop:
        for signum in self._signals:
            self._old_handlers[signum] = signal.signal(signum, self._on_signal)
        if self._signals:
            self._old_hook, sys.unraisablehook = sys.unraisablehook, self._on_unraisable
        return self

    def __exit__(self, *exc: object) -> None:
        self.caught = True
        self._stopped.set()
        if self._resender is not None:  # a resend under way must still meet our handler, never the default one
            self._resender.join()
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)
        if self._signals:
            sys.unraisablehook = self._old_hook

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.caught:
            return
        if self.received is None:
            self.received = signum
            self._resender = threading.Thread(target=self._resend, daemon=True)
            self._resender.start()
        raise KeyboardInterrupt

    def _resend(self) -> None:
        while not self._stopped.wait(1):
            if hasattr(signal, "pthread_kill"):  # a real signal, which also ends a sleep or a blocking read
                signal.pthread_kill(threading.main_thread().ident, self.received)
            else:
                _thread.interrupt_main()

    def _on_unraisable(self, unraisable: Any) -> None:
        if not issubclass(unraisable.exc_type, KeyboardInterrupt):
            self._old_hook(unraisable)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = vars(build_parser().parse_args(argv))
    with _SignalsStop() as interrupts:
        return _run(argv, args, interrupts)


def _run(argv: list[str], args: dict[str, Any], interrupts: _SignalsStop) -> int:
    report_dir = args.pop("report")
    runs_before: set[Path] | None = None  # known once the run starts: a signal names only the run it created
    try:
        if report_dir is not None:
            others = [_flag(k) for k, v in args.items() if v is not None and k != "verbose"]
            if others:
                raise UserError(f"--report only rebuilds the plots and report of a run directory; it cannot be "
                                f"combined with {', '.join(others)}")  # fmt: skip
            from yolo_prune.report import main as report_main

            return report_main([report_dir])
        if args["resume"] is not None and args["cfg"] is not None:
            raise UserError("--cfg cannot be used with --resume: a resumed run keeps the settings it started with")
        from yolo_prune.pipeline import prune

        command = "yolo-prune " + " ".join(shlex.quote(a) for a in argv)
        runs_before = _run_dirs(args)
        result = prune(command=command, **args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return _stop(interrupts, args, runs_before)
    except Exception as e:
        if interrupts.received is not None:
            return _stop(interrupts, args, runs_before)  # the signal, turned into another error by what it interrupted
        cause = _resource_failure(e)
        if cause is None:
            raise
        print(f"error: {cause}{'' if report_dir is not None else _resume_hint(args, runs_before)}", file=sys.stderr)
        return 1
    return 0 if result is not None else 1


def _flag(key: str) -> str:
    return f"--{key.replace('_', '-')}"


def _stop(interrupts: _SignalsStop, args: dict[str, Any], runs_before: set[Path] | None) -> int:
    """The exit of a stopped run: what resumes it, and the shell's code for a process ended by that signal."""
    interrupts.caught = True
    signum = interrupts.received or signal.SIGINT
    what = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    print(f"\n{what}{_resume_hint(args, runs_before, started=' before the run started')}", file=sys.stderr)
    return 128 + signum


_FULL = {errno.ENOSPC: "the disk is full", errno.EFBIG: "a file grew past the file-size limit (ulimit -f)",
         errno.EDQUOT: "the disk quota is used up"}  # fmt: skip


def _resource_failure(error: BaseException) -> str | None:
    """What ran out, when ``error`` or what caused it is the machine running out of a resource (disk, memory, a
    data-loading worker killed, usually for memory) rather than a mistake in the input or a bug."""
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if isinstance(e, OSError) and e.errno in _FULL:
            return f"{_FULL[e.errno]}: {e.strerror}" + (f" ({e.filename})" if e.filename else "")
        if isinstance(e, MemoryError):
            return "out of memory (Python could not allocate more)"
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(e, torch.OutOfMemoryError):
            return f"out of memory on the device ({first})"
        if isinstance(e, RuntimeError) and "can't allocate memory" in first:  # torch's CPU allocator
            return f"out of memory ({first})"
        if isinstance(e, RuntimeError) and "DataLoader worker" in first:
            return f"a data-loading worker died, usually killed for lack of memory ({first})"
        if isinstance(e, RuntimeError) and "inline_container" in first:  # torch.save to a path: no errno survives
            return f"a checkpoint could not be written ({first}): is the disk full, or a file-size limit reached?"
        e = e.__cause__ or e.__context__
    return None


def _run_dirs(args: dict[str, Any]) -> set[Path]:
    """Run directories under the project folder that this command's settings name (exp, exp2, ...)."""
    from yolo_prune.settings import resolve_settings

    if args["resume"] is not None:
        return set()
    s = resolve_settings(args["cfg"], {"project": args["project"], "name": args["name"]})
    return {p for p in Path(s["project"]).glob(f"{glob.escape(s['name'])}*") if (p / "settings.yaml").is_file()}


def _resume_hint(args: dict[str, Any], runs_before: set[Path] | None, started: str = "") -> str:
    """What a run that stopped early leaves behind: the command that resumes it, or why there is nothing to resume.
    ``started`` follows the first words when the run had not started yet."""
    if args["resume"] is not None:
        run = Path(args["resume"])
    else:
        new = _run_dirs(args) - runs_before if runs_before is not None else set()
        run = max(new, key=lambda p: p.stat().st_mtime) if new else None
    if run is None:
        return f"{started}; nothing to resume"
    if not (run / "steps.json").is_file():
        return f" before the first step of {run} finished; nothing to resume: run the command again"
    return f"; what the run finished is kept; resume with: yolo-prune --resume {shlex.quote(str(run.absolute()))}"


if __name__ == "__main__":
    sys.exit(main())
