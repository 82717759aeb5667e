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
from yolo_prune.errors import Paused, RunError, UserError
from yolo_prune.settings import SETTINGS, Setting


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own is a usage block)
        self.exit(2, f"error: {message} (see yolo-prune --help)\n")


def _add(group: argparse._ArgumentGroup, setting: Setting) -> None:
    """The flag of a declared setting: its value parsed and checked by the setting itself (``settings.SETTINGS``)."""
    extra: dict[str, Any] = {"nargs": "?", "const": True} if setting.bare else {"nargs": "+"} if setting.several else {}
    group.add_argument(setting.flag, type=setting.parse, metavar=setting.metavar, help=setting.help, **extra)


def build_parser() -> argparse.ArgumentParser:
    """The command line: the arguments of the command itself, and a flag per declared setting, in its group."""
    p = _Parser(
        prog="yolo-prune",
        description="Structured pruning for Ultralytics YOLOv8, YOLO11 and YOLO26 detectors: a smaller, faster model, "
        "measured, that stays a stock Ultralytics model.",
        epilog="Defaults come from cfg/default.yaml; --cfg FILE overrides them and flags override both. "
        "Outputs go to a fresh run directory (runs/prune/exp, exp2, ...).",
    )
    io = p.add_argument_group("input and output")
    io.add_argument("--model", help="trained detector .pt (never modified), or a model .yaml to build from scratch")
    io.add_argument("--data", help="data set yaml in Ultralytics' format (see scripts/voc_split.py); for a classifier, "
                    "a folder with train/ and val/ holding a folder per class")
    io.add_argument("--cfg", help="settings file in the format of cfg/default.yaml")
    for setting in (s for s in SETTINGS if s.group == io.title):
        _add(io, setting)
    io.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run after its last finished step")
    io.add_argument("--report", metavar="RUN_DIR", help="only rebuild the plots and report of a run directory")
    io.add_argument("--version", action=_Version, help="print the versions of yolo-prune and its libraries, and exit")
    groups = {io.title: io}
    for setting in (s for s in SETTINGS if s.group and s.group != io.title):
        if setting.group not in groups:
            groups[setting.group] = p.add_argument_group(setting.group)
        _add(groups[setting.group], setting)
    verbosity = groups["reporting"].add_mutually_exclusive_group()
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
    except Paused as e:
        print(e)
        return 0
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


# What a run needs less memory with: --resume takes --workers anew; --batch decides what is computed, so a new run.
_LESS_MEMORY = "; fewer --workers (which --resume takes anew) or a new run with a smaller --batch need less"
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
            return f"out of memory (Python could not allocate more){_LESS_MEMORY}"
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(e, torch.OutOfMemoryError):
            return f"out of memory on the device ({first}){_LESS_MEMORY}"
        if isinstance(e, RuntimeError) and "can't allocate memory" in first:  # torch's CPU allocator
            return f"out of memory ({first}){_LESS_MEMORY}"
        if isinstance(e, RuntimeError) and "DataLoader worker" in first:
            return f"a data-loading worker died, usually killed for lack of memory ({first}){_LESS_MEMORY}"
        if isinstance(e, RuntimeError) and "inline_container" in first:  # torch.save to a path: no errno survives
            return f"a checkpoint could not be written ({first}): is the disk full, or a file-size limit reached?"
        e = e.__cause__ or e.__context__
    return None


def _run_dirs(args: dict[str, Any]) -> set[Path]:
    """Run directories under the project folder that this command's settings name (exp, exp2, ...)."""
    from yolo_prune.rundir import SETTINGS_FILE
    from yolo_prune.settings import resolve_settings

    if args["resume"] is not None:
        return set()
    s = resolve_settings(args["cfg"], {"project": args["project"], "name": args["name"]}, notify=False)
    return {p for p in Path(s["project"]).glob(f"{glob.escape(s['name'])}*") if (p / SETTINGS_FILE).is_file()}


def _resume_hint(args: dict[str, Any], runs_before: set[Path] | None, started: str = "") -> str:
    """What a run that stopped early leaves behind: the command that resumes it, or why there is nothing to resume.
    ``started`` follows the first words when the run had not started yet."""
    from yolo_prune.rundir import STEPS_FILE

    if args["resume"] is not None:
        run = Path(args["resume"])
    else:
        new = _run_dirs(args) - runs_before if runs_before is not None else set()
        run = max(new, key=lambda p: p.stat().st_mtime) if new else None
    if run is None:
        return f"{started}; nothing to resume"
    if not (run / STEPS_FILE).is_file():
        return f" before the first step of {run} finished; nothing to resume: run the command again"
    return f"; what the run finished is kept; resume with: yolo-prune --resume {shlex.quote(str(run.absolute()))}"


if __name__ == "__main__":
    sys.exit(main())
