"""Measure latency on the runtime a model is deployed on, because fewer MACs do not always mean faster inference.

Odd channel counts and memory-bound layers can leave a pruned model no faster (or slower) than its base, and each
runtime rewards different widths, so the report states measured times (on ONNX Runtime, OpenVINO, ncnn or TensorRT:
``yolo_prune.runtimes``). ``compare_latency`` interleaves the two models run by run so that machine noise (other
processes, clock changes, thermal throttling) falls on both alike. With one thread, the CPU runtimes compute in the
calling thread, and each run is timed by that thread's CPU time instead of the wall clock: on a machine shared with
other work, the time a run spends waiting for a core is not counted, so the result is the latency the model has on
a core of its own, steady to about 1 % where wall times scatter by 10-30 %.

Usage:
    from pathlib import Path
    from yolo_prune.latency import (
        attainable_speedup, compare_latency, measure_interleaved, measure_latency, step_timing,
    )

    stats = measure_latency(Path("final.onnx"), runs=100)
    print(stats.median_ms, stats.as_dict())
    result = compare_latency(Path("base.onnx"), Path("final.onnx"), runs=100)
    print(f"{result['speedup']:.2f}x")
    base, *variants = measure_interleaved([Path("base.onnx"), Path("a.onnx"), Path("b.onnx")], runs=100, threads=1)
    ov = compare_latency(Path("base_openvino_model"), Path("final_openvino_model"), provider="openvino", threads=1)
    steady = measure_interleaved([Path("base.onnx"), Path("a.onnx")], runs=100, precision=0.005, budget_s=60)
    print([base.median_ms / v.median_ms for v in variants])
    attainable_speedup(base_ms=12.0, floor_ms=3.0, macs_ratio=2.0)  # 1.6: the floor's time does not shrink
    step_timing([{"step": 1, "seconds": 4.0, "models": 2, "runs": 10}])  # {1: {"seconds": 4.0, "models": 2, ...}}

CLI:
    python -m yolo_prune.latency base.onnx final.onnx --runs 100 --warmup 10 --provider cpu
    python -m yolo_prune.latency base_ncnn_model final_ncnn_model --provider ncnn --threads 1
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yolo_prune.errors import UserError
from yolo_prune.runtimes import RUNTIMES, get_runtime

PRECISION = 0.005  # a timing may stop once every median's relative standard error is this small
MIN_RUNS = 3  # timed rounds a timing stopped early by its time budget still makes
PRECISE_RUNS = 7  # and by its precision: fewer runs give too rough a spread to judge it by


@dataclass
class LatencyStats:
    """Times of single runs (input copy included) on one fixed input, in milliseconds: wall-clock, or the calling
    thread's CPU time (``clock`` "cpu") for single-threaded runs on a CPU runtime that computes in that thread."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    mean_ms: float
    std_ms: float
    runs: int
    batch: int
    imgsz: int | tuple[int, int]
    provider: str  # the runtime's name (yolo_prune.runtimes)
    threads: int | None = None  # the runtime's threads; None: its own choice
    clock: str = "wall"
    rel_error: float | None = None  # the median's relative standard error (``median_error``)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON reports."""
        return asdict(self)


class _Runner:
    """One session of ``provider``'s runtime on ``path`` (its export, or an ONNX file) and a fixed random input;
    ``__call__`` times a single run."""

    def __init__(self, path: Path, provider: str, threads: int | None, seed: int = 0) -> None:
        path = Path(path)
        if not path.exists():
            raise UserError(f"model not found: {path}")
        if threads is not None and threads < 1:
            raise UserError(f"threads must be at least 1, got {threads}")
        runtime = get_runtime(provider)
        runtime.require()
        self.session = runtime.load(path, threads)
        self.batch, channels, h, w = self.session.shape
        self.imgsz = h if h == w else (h, w)
        self.provider, self.threads = provider, threads
        # One CPU thread computes in the caller's thread, so its CPU time is the run's time minus any wait for a core.
        self.clock = "cpu" if runtime.thread_clock and threads == 1 else "wall"
        self._now = time.thread_time if self.clock == "cpu" else time.perf_counter
        self.x = np.random.default_rng(seed).random((self.batch, channels, h, w), dtype=np.float32)
        self.times_ms: list[float] = []

    def __call__(self, record: bool = True) -> None:
        """Run once; keep the time unless this is a warm-up run."""
        t = self._now()
        self.session.run(self.x)
        if record:
            self.times_ms.append((self._now() - t) * 1e3)

    def stats(self) -> LatencyStats:
        """Summary of the recorded runs."""
        t = np.asarray(self.times_ms)
        p10, median, p90 = np.percentile(t, [10, 50, 90])
        return LatencyStats(
            median_ms=float(median),
            p10_ms=float(p10),
            p90_ms=float(p90),
            mean_ms=float(t.mean()),
            std_ms=float(t.std()),
            runs=len(t),
            batch=self.batch,
            imgsz=self.imgsz,
            provider=self.provider,
            threads=self.threads,
            clock=self.clock,
            rel_error=median_error(self.times_ms),
        )


def timing_label(provider: str, threads: int | None) -> str:
    """How a run's models are timed, in words for logs and reports."""
    return get_runtime(provider).timing_label(threads)


def median_error(times_ms: list[float]) -> float:
    """The relative standard error of the median of ``times_ms`` (from their median absolute deviation, which one
    slow run does not inflate): how far another set of as many runs would likely put the median."""
    if len(times_ms) < 2:
        return math.inf
    t = np.asarray(times_ms)
    median = float(np.median(t))
    mad = float(np.median(np.abs(t - median))) * 1.4826  # the standard deviation of a normal sample
    return 1.2533 * mad / math.sqrt(len(t)) / max(median, 1e-12)


def _run_rounds(runners: list[_Runner], runs: int, warmup: int, progress: bool, desc: str,
                precision: float | None = None, budget_s: float | None = None, min_runs: int = MIN_RUNS,
                ) -> None:  # fmt: skip
    """Warm up, then time ``runs`` rounds; each round runs every model once, alternating their order. With
    ``precision``, stop once every model's median is known that well (``median_error``), after ``PRECISE_RUNS``
    timed rounds; with ``budget_s``, once that many seconds have gone since the start, after ``min_runs``."""
    if runs < 1 or warmup < 0:
        raise UserError(f"runs must be at least 1 and warmup at least 0, got runs={runs}, warmup={warmup}")
    total, start = warmup + runs, time.perf_counter()
    for i in range(total):
        timed = i - warmup
        if (timed >= min_runs and budget_s is not None and time.perf_counter() - start >= budget_s) or (
            timed >= max(min_runs, PRECISE_RUNS) and precision is not None
            and all(median_error(r.times_ms) <= precision for r in runners)
        ):
            break
        order = runners if i % 2 == 0 else runners[::-1]  # no model always runs right after the other
        for runner in order:
            runner(record=i >= warmup)
        if progress and sys.stderr.isatty() and (i + 1 == total or i % 5 == 0):
            stage = "warm-up" if i < warmup else "timing"
            print(f"\r{desc}: {stage} {i + 1}/{total}", end="" if i + 1 < total else "\n", file=sys.stderr, flush=True)
        elif progress and i + 1 == total:  # a log file gets one plain line, not carriage-return redraws
            print(f"{desc}: {total} runs", file=sys.stderr, flush=True)


def measure_latency(
    path: Path,
    runs: int = 50,
    warmup: int = 10,
    provider: str = "cpu",
    threads: int | None = None,
    progress: bool = True,
) -> LatencyStats:
    """Time ``runs`` inferences of ``path`` after ``warmup`` untimed ones (batch and size from its input)."""
    runner = _Runner(path, provider, threads)
    _run_rounds([runner], runs, warmup, progress, f"latency {Path(path).name}")
    return runner.stats()


def compare_latency(
    base_path: Path,
    final_path: Path,
    runs: int = 50,
    warmup: int = 10,
    provider: str = "cpu",
    threads: int | None = None,
    progress: bool = True,
    precision: float | None = None,
    budget_s: float | None = None,
) -> dict[str, Any]:
    """Latency of both models measured interleaved (stopping early as ``measure_interleaved`` does), and
    ``speedup`` = base median / final median."""
    base, final = _Runner(base_path, provider, threads), _Runner(final_path, provider, threads)
    if (base.batch, base.imgsz) != (final.batch, final.imgsz):
        raise UserError(
            f"cannot compare latency of batch {base.batch} at {base.imgsz} with batch {final.batch} at {final.imgsz}"
        )
    _run_rounds([base, final], runs, warmup, progress, f"latency base/final, batch {base.batch}", precision, budget_s)
    base_stats, final_stats = base.stats(), final.stats()
    return {"base": base_stats, "final": final_stats, "speedup": base_stats.median_ms / final_stats.median_ms}


def measure_interleaved(
    paths: list[Path],
    runs: int = 50,
    warmup: int = 10,
    provider: str = "cpu",
    threads: int | None = None,
    progress: bool = False,
    precision: float | None = None,
    budget_s: float | None = None,
) -> list[LatencyStats]:
    """Latency of several models measured in the same rounds (each round runs every model once, in alternating
    order), so that ratios between them are free of the machine's drift; one ``LatencyStats`` per path, in order.
    At most ``runs`` rounds: fewer once every median is known to ``precision`` (a relative standard error, e.g.
    0.005; never under ``PRECISE_RUNS`` rounds) or once ``budget_s`` seconds have gone (never under ``MIN_RUNS``);
    ``runs`` of each result says how many were timed."""
    runners = [_Runner(p, provider, threads) for p in paths]
    if len({(r.batch, r.imgsz) for r in runners}) > 1:
        raise UserError(f"cannot time models of different input shapes together: {[str(p) for p in paths]}")
    _run_rounds(runners, runs, warmup, progress, f"latency of {len(runners)} models", precision, budget_s)
    return [r.stats() for r in runners]


def step_timing(timings: list[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """Timings (each with its ``step``, ``seconds``, ``models`` and ``runs``, as a speed target records them) summed
    per step: seconds, models timed and model runs (step 0: before the run, the floor)."""
    out: dict[int, dict[str, float]] = {}
    for t in timings:
        s = out.setdefault(int(t["step"]), {"seconds": 0.0, "models": 0, "runs": 0})
        s["seconds"] += t["seconds"]
        s["models"] += t["models"]
        s["runs"] += t["models"] * t["runs"]
    return dict(sorted(out.items()))


def attainable_speedup(base_ms: float, floor_ms: float, macs_ratio: float) -> float:
    """The speed-up of a model whose time above the floor shrank in proportion to its MACs (Amdahl's law):
    ``base / (floor + (base - floor) / macs_ratio)``."""
    return base_ms / (floor_ms + (base_ms - floor_ms) / macs_ratio)


def _table(rows: list[tuple[str, LatencyStats]]) -> str:
    """A small fixed-width table of latency stats."""
    head = f"{'model':<28}{'median ms':>11}{'p10 ms':>10}{'p90 ms':>10}{'mean ms':>10}{'std ms':>9}{'runs':>6}"
    lines = [head]
    for name, s in rows:
        lines.append(
            f"{name[:27]:<28}{s.median_ms:>11.2f}{s.p10_ms:>10.2f}{s.p90_ms:>10.2f}{s.mean_ms:>10.2f}"
            f"{s.std_ms:>9.2f}{s.runs:>6}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m yolo_prune.latency``: time one model, or two interleaved with their speed-up."""
    parser = argparse.ArgumentParser(prog="python -m yolo_prune.latency", description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="model to time (an ONNX file, or the runtime's export)")
    parser.add_argument("final", type=Path, nargs="?", help="second model, timed interleaved with the first")
    parser.add_argument("--runs", type=int, default=100, help="timed runs per model")
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs per model first")
    parser.add_argument("--provider", choices=list(RUNTIMES), default="cpu", help="the runtime (default: cpu)")
    parser.add_argument("--threads", type=int, default=None, help="the runtime's threads (default: its own)")
    args = parser.parse_args(argv)
    kw = dict(runs=args.runs, warmup=args.warmup, provider=args.provider, threads=args.threads)
    try:
        if args.final is None:
            stats = measure_latency(args.base, **kw)
            print(_table([(args.base.name, stats)]))
            print(f"batch {stats.batch}, imgsz {stats.imgsz}, provider {stats.provider}")
        else:
            result = compare_latency(args.base, args.final, **kw)
            print(_table([(args.base.name, result["base"]), (args.final.name, result["final"])]))
            s, speedup = result["base"], result["speedup"]
            print(f"batch {s.batch}, imgsz {s.imgsz}, provider {s.provider}; speed-up {speedup:.2f}x (median)")
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
