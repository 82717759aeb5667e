"""The pruning loop that every method shares: base measurement, optional preparation (sparse training), then
prune -> measure -> fine-tune -> measure steps (a fine-tuning that scores below the pruned model is not kept), an
early stop that rolls back, and the final exports and report.

Usage:
    from yolo_prune import prune

    result = prune(model="best.pt", data="data.yaml", target_prune_rate=0.5, iterative_steps=16, epochs=30)
    print(result.final_pt, result.onnx, result.report)
    prune(resume="runs/prune/exp")  # continue an interrupted run after its last finished step

CLI:
    yolo-prune --model best.pt --data data.yaml --target-prune-rate 0.5
    yolo-prune --resume runs/prune/exp

A run writes only inside its own fresh directory (``runs/prune/exp``, ``exp2``...): ``settings.yaml``,
``inputs.json`` (what it reads from outside: the data set's fingerprint, checked again on resume), the step log
``steps.json``/``steps.csv``, ``weights/`` (base, each kept step, final, ONNX), ``layers.json``, ``summary.json``
and the report. The step log is written as each step ends, so a killed run resumes where it stopped; resuming a
finished run changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch.nn as nn

from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.checks import (
    adopt_data_names,
    check_data,
    check_device,
    check_freeze,
    check_inputs,
    check_labels,
    check_model,
    check_runtime,
    check_output,
    check_train_args,
    data_view,
    record_inputs,
)
from yolo_prune.errors import RunError, UserError
from yolo_prune.evaluation import count_macs_params, evaluate_map, layer_widths
from yolo_prune.methods import PruningMethod, make_method
from yolo_prune.runtimes import get_runtime
from yolo_prune.structure import ModelAdapter
from yolo_prune.structure.model_yaml import stock_yaml
from yolo_prune.offline import provide_local_fonts
from yolo_prune.rundir import (
    DATASET_DIR, FINETUNE_DIR, INPUTS_FILE, LAYERS_FILE, METRICS_KEY, REPORT_MD_FILE, SETTINGS_FILE, STEPS_FILE,
    SUMMARY_FILE, VAL_DIR, StepLog, checkpoint_file, new_run_dir, read_json, read_steps, run_metrics, write_json,
    write_yaml,
)  # fmt: skip
from yolo_prune.settings import ADDED_SETTINGS, DEFAULT_CFG, load_yaml, resolve_settings, training_overrides, validate


# ONNX Runtime and PyTorch see the same images through the same validator: their mAP50-95 may differ by rounding only.
MAP_TOLERANCE = 0.005


@dataclass
class PruneResult:
    """Where a finished run put its outputs, with its step log and base-vs-final summary."""

    run_dir: Path
    final_pt: Path
    onnx: Path
    report: Path
    steps: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    """What the loop and the methods share about one run: its folder, settings, the data set view it reads, the
    model's adapter (built once, from the input model) and the pruning method (made once)."""

    dir: Path
    settings: dict[str, Any]
    data: str
    adapter: ModelAdapter
    method: PruningMethod

    @property
    def imgsz(self) -> int:
        return self.settings["imgsz"]

    @property
    def metrics(self) -> dict[str, str]:
        """The task's metrics, our name -> label, the deciding one (``yardstick``) first."""
        return self.adapter.task.metric_labels

    @property
    def yardstick(self) -> str:
        return self.adapter.task.yardstick

    @property
    def train_args(self) -> dict[str, Any]:
        return training_overrides(self.settings)


def versions() -> dict[str, str]:
    """Installed package versions for the report (results depend on them); from the installers' metadata, which
    is right where a module's own ``__version__`` may lag (torch-pruning 1.6.1 says 1.6.0)."""
    import importlib.metadata
    import platform

    out = {"python": platform.python_version()}
    for dist in ("torch", "ultralytics", "torch-pruning", "onnxruntime", "onnxruntime-gpu", "openvino", "nncf", "ncnn",
                 "pnnx", "tensorrt", "yolo-prune"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[dist.replace("-", "_")] = importlib.metadata.version(dist)
    return out


@contextlib.contextmanager
def _ultralytics_verbosity(verbose: bool) -> Iterator[None]:
    """Quiet mode silences Ultralytics' own logging for the run; the step lines are printed regardless."""
    from ultralytics.utils import LOGGER

    level = LOGGER.level
    if not verbose:
        LOGGER.setLevel(logging.WARNING)
    try:
        yield
    finally:
        LOGGER.setLevel(level)


def _start(model: str | Path, data: str | Path, cfg: str | Path | None, command: str | None,
           overrides: dict[str, Any]) -> tuple[Run, nn.Module]:  # fmt: skip
    """Validate everything, load the model and create the run directory, in that order: bad input writes nothing.
    The run reads the data set through links in its own folder, so Ultralytics' caches land there, not beside it."""
    if model is None or data is None:
        raise UserError("both a model and a data set are needed (or --resume RUN_DIR)")
    settings = resolve_settings(cfg, overrides)
    check_train_args(settings)
    check_runtime(settings)
    check_device(settings.get("device"))
    check_output(settings["project"])
    detector, adapter, data_info = check_model(model, str(data))
    check_freeze(settings, detector)
    _print_warnings(check_labels(data_info, adapter.task, bool(settings.get("single_cls"))))
    _print_warnings(adopt_data_names(detector, data_info, model))
    if settings["distill"]:
        from yolo_prune.distill import check_teacher

        check_teacher(settings.get("teacher"), detector)
    method = make_method(settings, adapter)
    files = method.check(detector)  # e.g. a speed target beyond the model's reach: refused here
    inputs = record_inputs(data_info, model, settings.get("teacher"))  # what --resume checks again
    # Absolute paths: Ultralytics puts a relative training folder under its own runs/, and --resume may run elsewhere.
    run_dir = new_run_dir(Path(settings["project"]).absolute(), settings["name"])
    view = data_view(data_info, run_dir / DATASET_DIR, adapter.task.folder_data)
    settings.update(model=str(Path(model).absolute()) if Path(model).is_file() else str(model),
                    data=str(Path(data).absolute()))  # fmt: skip
    for key in ("teacher", "latency_table"):  # read again on --resume, from wherever it runs
        if settings.get(key):
            settings[key] = str(Path(settings[key]).absolute())
    write_yaml(run_dir / SETTINGS_FILE, {**settings, "command": command or "", "versions": versions(),
                                         METRICS_KEY: adapter.task.metric_labels})  # fmt: skip
    for name, content in {**files, INPUTS_FILE: inputs}.items():
        write_json(run_dir / name, content)
    return Run(run_dir, settings, str(view), adapter, method), detector


def _print_warnings(lines: list[str]) -> None:
    """What the checks found that does not stop a run, shown even with --quiet."""
    for line in lines:
        print(line, file=sys.stderr, flush=True)


def _finished(run_dir: str | Path) -> PruneResult | None:
    """A run that wrote its summary (with its ONNX files) is done: say so and change nothing. A run whose export
    failed is not: resuming it tries the export again."""
    run_dir = Path(run_dir).absolute()
    if not (run_dir / SETTINGS_FILE).is_file() or not (run_dir / SUMMARY_FILE).is_file():
        return None
    summary = read_json(run_dir / SUMMARY_FILE)
    if not isinstance(summary, dict) or summary.get("onnx_error"):
        return None
    print(f"{run_dir} has finished: nothing to resume, nothing changed "
          f"(yolo-prune --report {run_dir} rebuilds its report)")  # fmt: skip
    final = run_dir / checkpoint_file("final")
    return PruneResult(run_dir, final, final.with_suffix(".onnx"), run_dir / REPORT_MD_FILE,
                       read_steps(run_dir / STEPS_FILE, run_metrics(summary)), summary)  # fmt: skip


def _resume(run_dir: str | Path, overrides: dict[str, Any]) -> tuple[Run, nn.Module]:
    """The run's own saved settings and the model of its last kept step, every file checked before any work.

    Only what decides where and how a run computes, not what, may be given anew: device, workers and verbosity,
    and the latency settings, which only affect the measurements at the end; and the data yaml of a data set that
    moved, which must be the data set the run recorded in ``inputs.json`` (runs from before that record keep theirs).
    """
    run_dir = Path(run_dir).absolute()
    settings_path, steps_path, inputs_path = run_dir / SETTINGS_FILE, run_dir / STEPS_FILE, run_dir / INPUTS_FILE
    may_change = ("device", "workers", "verbose", "latency_runs", "latency_warmup", "latency_provider",
                  "latency_budget", "compare_runtimes", "int8",
                  *(("data",) if inputs_path.is_file() else ()))  # fmt: skip
    if not settings_path.is_file():
        raise UserError(f"{run_dir} is not a yolo-prune run directory (it has no settings.yaml)")
    saved = load_yaml(settings_path)
    versions = saved.pop("versions", None)
    command = saved.pop("command", None)
    metrics = run_metrics({METRICS_KEY: saved.pop(METRICS_KEY, None)})
    defaults = load_yaml(DEFAULT_CFG)
    saved.update({k: defaults[k] for k in ADDED_SETTINGS if k not in saved})  # a run from before they existed
    data_before = saved.get("data")
    nothing = (f"{run_dir} stopped before its first step finished, so there is nothing to resume; "
               f"start it again: {command or 'yolo-prune --model ... --data ...'}")  # fmt: skip
    if not steps_path.is_file():
        raise UserError(nothing)
    given = {k: str(Path(v).absolute()) if k in ("model", "data") and Path(v).exists() else v
             for k, v in overrides.items() if v is not None and k not in ("project", "name")}  # fmt: skip
    conflicts = [f"{k} (run has {saved.get(k)!r}, given {v!r})" for k, v in given.items()
                 if k not in may_change and saved.get(k) != v]  # fmt: skip
    if conflicts:
        raise UserError(f"--resume continues with the run's own settings; these differ: {', '.join(conflicts)}")
    saved.update({k: v for k, v in given.items() if k in may_change})
    _check_saved_settings(settings_path, saved)
    check_runtime(saved)
    check_device(saved.get("device"))
    rows = read_steps(steps_path, metrics)
    if not rows:
        raise UserError(nothing)
    layers = read_json(run_dir / LAYERS_FILE, " (the per-layer widths)")
    if not isinstance(layers, dict) or not isinstance(layers.get("base"), dict):
        raise UserError(f"{run_dir / LAYERS_FILE} has no 'base' widths: it was not written by yolo-prune")
    kept = [r for r in rows if r["status"] == "kept"]
    if not kept or not kept[-1]["checkpoint"]:
        raise UserError(f"{steps_path} names no kept step with a checkpoint to continue from")
    model = load_detector(run_dir / kept[-1]["checkpoint"])  # a damaged checkpoint is named here, before any work
    adapter = ModelAdapter.of(model, run_dir / kept[-1]["checkpoint"])
    if adapter.task.metric_labels != metrics:
        raise UserError(f"{run_dir} logged {', '.join(metrics.values())}, but this yolo-prune judges a "
                        f"{adapter.task.label} model by {', '.join(adapter.task.metric_labels.values())}: an older "
                        f"version started it; start it again: {command or 'yolo-prune --model ... --data ...'}"
                        )  # fmt: skip
    try:
        data_info = check_data(saved["data"], adapter.task)
    except UserError as e:
        if "data" in given:
            raise
        raise UserError(f"{e}; if the data set moved, give its yaml: yolo-prune --resume {run_dir} --data "
                        "NEW.yaml") from None  # fmt: skip
    check_inputs(inputs_path, data_info, saved.get("teacher"))
    if adapter.classes(model) != data_info["nc"]:  # what a run from before inputs.json can still be checked for
        raise UserError(f"the run's model predicts {adapter.classes(model)} classes but {saved['data']} now has "
                        f"{data_info['nc']}; a run resumes only on its own data")  # fmt: skip
    _print_warnings(check_labels(data_info, adapter.task, bool(saved.get("single_cls"))))
    if saved["data"] != data_before:  # the data set moved: the run goes on reading it where it is now
        write_yaml(settings_path, {**saved, "command": command, "versions": versions, METRICS_KEY: metrics})
    view = str(data_view(data_info, run_dir / DATASET_DIR, adapter.task.folder_data))
    return Run(run_dir, saved, view, adapter, make_method(saved, adapter)), model


def _check_saved_settings(path: Path, saved: dict[str, Any]) -> None:
    """The checks a new run's settings pass, on a run's settings.yaml (which may have been cut off or edited)."""
    required = [k for k, v in load_yaml(DEFAULT_CFG).items() if v is not None]  # None defaults may stay unset
    missing = [k for k in (*required, "model", "data") if saved.get(k) is None]
    if missing:
        raise UserError(f"{path} lacks {', '.join(missing)}: it is cut off or was not written by yolo-prune")
    try:
        validate(saved)
        check_train_args(saved)
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


def prune(
    model: str | Path | None = None,
    data: str | Path | None = None,
    cfg: str | Path | None = None,
    resume: str | Path | None = None,
    command: str | None = None,
    **overrides: Any,
) -> PruneResult:
    """Prune ``model`` on ``data`` with the resolved settings (see ``cfg/default.yaml``), or resume a run."""
    provide_local_fonts()
    if resume is not None:
        finished = _finished(resume)
        if finished is not None:
            return finished
        run, detector = _resume(resume, {"model": model, "data": data, **overrides})
    else:
        run, detector = _start(model, data, cfg, command, overrides)
    with _ultralytics_verbosity(bool(run.settings["verbose"])):
        return _loop(run, detector)


def _measure(model: nn.Module, run: Run, name: str) -> dict[str, float]:
    s = run.settings
    return evaluate_map(model, run.data, run.imgsz, s["batch"], s.get("device"), run.dir / VAL_DIR / name)


def _row(step: int, phase: str, target_rate: float, rate: float, model: nn.Module, run: Run, base: dict | None,
         pruned: dict[str, float], tuned: dict[str, float], started: float) -> dict:  # fmt: skip
    """A step-log row; ``_accept`` adds its status and checkpoint. ``rate`` is the share of prunable channels
    removed, as reached (rounding and width rules included), beside the scheduled ``target_rate``."""
    macs, params = count_macs_params(model, run.imgsz)
    y = run.yardstick
    base = base or {"macs": macs, "params": params, y: tuned[y]}
    return {
        "step": step, "phase": phase, "target_rate": round(target_rate, 6), "rate": round(rate, 6),
        "macs": macs, "params": params,
        "macs_ratio": macs / base["macs"], "params_ratio": params / base["params"],
        **{f"{m}_pruned": pruned[m] for m in run.metrics}, **{m: tuned[m] for m in run.metrics},
        "map_drop": base[y] - tuned[y], "seconds": round(time.time() - started, 2),
    }  # fmt: skip


def _print_step(row: dict, steps: int, base: dict, run: Run) -> None:
    label = f"step {row['step']}/{steps}" if row["step"] > 0 else row["phase"]
    y = run.yardstick
    print(
        f"{label:<11} MACs {row['macs'] / 1e9:.3f}G ({row['macs_ratio']:.0%})  params {row['params'] / 1e6:.2f}M "
        f"({row['params_ratio']:.0%})  {run.metrics[y]} {row[f'{y}_pruned']:.3f} -> {row[y]:.3f} "
        f"(base {base[y]:.3f})  {row['seconds']:.0f}s  {row['status']}",
        flush=True,
    )


def _ckpt_args(run: Run) -> dict[str, Any]:
    """The train settings a checkpoint carries: the user's data yaml, not the run's private view of it."""
    return {**run.train_args, "data": run.settings["data"]}


def _accept(row: dict, run: Run, model: nn.Module, name: str) -> dict:
    """Keep the step if the task's deciding metric stayed within ``max_map_drop`` of the base (saving its
    checkpoint)."""
    if row["map_drop"] > run.settings["max_map_drop"]:
        return {**row, "status": "rejected", "checkpoint": ""}
    rel = checkpoint_file(name)
    save_checkpoint(run.dir / rel, model, _ckpt_args(run), step=row["step"], phase=row["phase"])
    return {**row, "status": "kept", "checkpoint": rel}


def _loop(run: Run, model: nn.Module | None) -> PruneResult:
    from yolo_prune.distill import distill_kwargs
    from yolo_prune.training import finetune

    s, log, method = run.settings, StepLog(run.dir, run.metrics), run.method
    method.attach(run)
    steps = s["iterative_steps"]
    if not log.rows:
        started = time.time()
        metrics = _measure(model, run, "base")
        row = _row(0, "base", 0.0, 0.0, model, run, None, metrics, metrics, started)
        row = _accept(row, run, model, "base")
        _write_layers(run, layer_widths(model), model)
        log.append(row)
        _print_step(row, steps, row, run)
    base, base_widths = log.rows[0], read_json(run.dir / LAYERS_FILE)["base"]
    if len(log.rows) == 1:
        started = time.time()
        model = method.prepare(model, run)
        if method.prepare_phase:
            metrics = _measure(model, run, method.prepare_phase)
            row = _row(0, method.prepare_phase, 0.0, 0.0, model, run, base, metrics, metrics, started)
            log.append(_accept(row, run, model, method.prepare_phase))
            _print_step(log.rows[-1], steps, base, run)
    _refresh_plots(run)
    done = [r["step"] for r in log.rows if r["phase"] == method.step_phase]
    for k in range(max(done, default=0) + 1, steps + 1):
        if log.rows[-1]["status"] == "rejected" or method.goal_reached(log.rows[-1]):
            break
        started = time.time()
        model = method.step_model(model, k)
        reached = method.prune(model, k, steps, base_widths, run.imgsz)
        pruned = _measure(model, run, f"step_{k:02d}_pruned")
        distill = distill_kwargs(s, run.dir / checkpoint_file("base"), run.adapter.task)
        model, tuned = _finetune_step(model, pruned, run, k, finetune, distill)
        row = _row(k, method.step_phase, method.target_rate(k, steps, reached), reached, model, run, base, pruned,
                   tuned, started)  # fmt: skip
        row = _accept(row, run, model, f"step_{k:02d}")
        log.append(row)
        if row["status"] == "kept":
            _write_layers(run, base_widths, model)
        _print_step(row, steps, base, run)
        _refresh_plots(run)
    if log.rows[-1]["status"] == "kept":
        method.goal_reached(log.rows[-1])  # the last step is measured too (the answer is kept per step)
    return _finish(run, log)


def _finetune_step(pruned_model: nn.Module, pruned: dict[str, float], run: Run, k: int, finetune: Callable,
                   distill: dict[str, Any]) -> tuple[nn.Module, dict[str, float]]:  # fmt: skip
    """Step ``k``'s model after fine-tuning, and its metrics. Fine-tuning that scores below the pruned model it started
    from (a few epochs of a noisy recipe can) is not kept: the step goes on with the pruned weights, as Ultralytics
    keeps the best epoch rather than the last. ``finetune`` trains a copy, so ``pruned_model`` is unchanged."""
    if run.settings["epochs"] == 0:
        return pruned_model, pruned
    model = finetune(pruned_model, run.data, run.train_args, run.dir / FINETUNE_DIR / f"step_{k:02d}", **distill)
    tuned = _measure(model, run, f"step_{k:02d}")
    y = run.yardstick
    if tuned[y] >= pruned[y]:
        return model, tuned
    print(f"step {k}/{run.settings['iterative_steps']}    fine-tuning lowered {run.metrics[y]} from {pruned[y]:.3f} "
          f"to {tuned[y]:.3f}: the step keeps its pruned weights", flush=True)  # fmt: skip
    return pruned_model, pruned


def _write_layers(run: Run, base_widths: dict[str, int], current: nn.Module) -> None:
    """Per-layer widths, base vs the model the run would end with now (the report's channel chart), and the convs
    whose width is the head's output (class count, box encoding), which no rounding applies to."""
    fixed = run.adapter.fixed_conv_names(current)
    write_json(run.dir / LAYERS_FILE, {"base": base_widths, "final": layer_widths(current), "fixed": fixed})


def _refresh_plots(run: Run) -> None:
    from yolo_prune.report import plot_steps

    plot_steps(run.dir)


def _batch_latency(run: Run, pts: dict[str, Path]) -> dict[str, Any]:
    """Latency at the run's batch size too, on the latency provider: pruning can pay off differently once a batch
    fills the machine. The batch-sized ONNX files are temporary; the run keeps the batch-1 exports."""
    from yolo_prune.deployment import timing
    from yolo_prune.export import export_onnx
    from yolo_prune.latency import compare_latency

    with tempfile.TemporaryDirectory() as tmp:
        onnx = {}
        for name, pt in pts.items():
            copy = Path(tmp) / f"{name}.pt"
            shutil.copyfile(pt, copy)
            onnx[name] = export_onnx(copy, run.imgsz, batch=run.settings["batch"])
        return compare_latency(onnx["base"], onnx["final"], provider=run.settings["latency_provider"],
                               **timing(run.settings))


def _finish(run: Run, log: StepLog) -> PruneResult:
    """Final model = last kept step; export it and the base to ONNX, check them, time them, write the report.

    Measured for both: mAP as ``yolo val`` reports it (rectangular batches) beside the run's own square-input mAP.
    Without a kept pruning step there is no speed-up to measure; when Ultralytics cannot export a model (e.g. one
    pruned to almost nothing), the summary and report say why and everything else is kept (a RunError then).
    """
    last = [r for r in log.rows if r["status"] == "kept"][-1]
    final = load_detector(run.dir / last["checkpoint"])
    final_pt = save_checkpoint(run.dir / checkpoint_file("final"), final, _ckpt_args(run), step=last["step"], phase=last["phase"])
    _write_layers(run, read_json(run.dir / LAYERS_FILE)["base"], final)
    pts = {"base": run.dir / checkpoint_file("base"), "final": final_pt}
    onnx, export_error = _export(pts, run.imgsz)
    summary = _summary(run, log, final, pts, onnx, export_error)
    if export_error is None:
        _check_onnx(run, summary, pts, onnx)
        if not summary["no_step_kept"]:  # timing a model against itself would report noise as a speed-up
            _time_models(run, summary, pts, onnx)
    summary.update(run.method.summary(run, summary))
    write_json(run.dir / SUMMARY_FILE, summary)
    md = _print_outcome(run, summary, final_pt, onnx)
    if export_error is not None:
        raise RunError(f"{export_error}; everything else the run measured is kept in {run.dir} ({md.name} says what "
                       f"is missing); yolo-prune --resume {run.dir} tries the export again")  # fmt: skip
    return PruneResult(run.dir, final_pt, onnx["final"], md, log.rows, summary)


def _export(pts: dict[str, Path], imgsz: int) -> tuple[dict[str, Path], str | None]:
    """Each checkpoint exported to ONNX beside it, or why Ultralytics' exporter could not."""
    from yolo_prune.export import ExportError, export_onnx

    onnx: dict[str, Path] = {}
    try:
        for name, pt in pts.items():
            onnx[name] = export_onnx(pt, imgsz)
    except ExportError as e:
        return onnx, str(e)
    return onnx, None


def _summary(run: Run, log: StepLog, final: nn.Module, pts: dict[str, Path], onnx: dict[str, Path],
             export_error: str | None) -> dict[str, Any]:  # fmt: skip
    """Base vs final (``final``: the model of the last kept step) from the step log and the files, with mAP as
    ``yolo val`` reports it; the ONNX and latency entries are filled in by the checks that follow."""
    from yolo_prune.export import ONNX_TOLERANCE

    s = run.settings
    last = [r for r in log.rows if r["status"] == "kept"][-1]
    rows = {"base": log.rows[0], "final": last}
    summary: dict[str, Any] = {}
    for name, pt in pts.items():
        rect = evaluate_map(load_detector(pt), run.data, run.imgsz, s["batch"], s.get("device"),
                            run.dir / VAL_DIR / f"yolo_val_{name}", rect=True)  # fmt: skip
        summary[name] = {
            "macs": rows[name]["macs"], "params": rows[name]["params"], "pt_bytes": pt.stat().st_size,
            "onnx_bytes": onnx[name].stat().st_size if name in onnx else None,
            **{m: rows[name][m] for m in run.metrics}, **{f"yolo_val_{m}": rect[m] for m in run.metrics},
            **{f"onnx_{m}": None for m in run.metrics}, "latency": None, "latency_batch": None,
        }  # fmt: skip
    summary.update(
        target_rate=last["target_rate"], rate=last["rate"], yaml_note=stock_yaml(final)[1],
        speedup=None, macs_ratio=rows["base"]["macs"] / last["macs"], onnx_gap=None, onnx_tolerance=MAP_TOLERANCE,
        onnx_output_diff=None, onnx_output_rounding=None, onnx_output_tolerance=ONNX_TOLERANCE,
        final_step=last["step"], final_phase=last["phase"], no_step_kept=last["step"] == 0, rejected=_rejected(log),
        max_map_drop=s["max_map_drop"], onnx_error=export_error, yolo_val_batch=s["batch"],
        yolo_val_rect=run.adapter.task.val_rect, **{METRICS_KEY: run.metrics},
    )  # fmt: skip
    return summary


def _check_onnx(run: Run, summary: dict[str, Any], pts: dict[str, Path], onnx: dict[str, Path]) -> None:
    """The final ONNX model's outputs against PyTorch's, and both models' metrics in ONNX Runtime, into
    ``summary``; the gap is the deciding metric's."""
    from yolo_prune.export import compare_with_torch, float32_rounding, onnx_tolerance, validate_onnx

    summary["onnx_output_diff"] = compare_with_torch(pts["final"], onnx["final"], run.imgsz)
    summary["onnx_output_rounding"] = float32_rounding(pts["final"], run.imgsz)
    summary["onnx_output_tolerance"] = onnx_tolerance(summary["onnx_output_rounding"])
    for name in pts:
        ort = validate_onnx(onnx[name], run.data, run.imgsz, batch=1, save_dir=run.dir / VAL_DIR / f"onnx_{name}")
        summary[name].update({f"onnx_{m}": ort[m] for m in run.metrics})
    y = run.yardstick
    summary["onnx_gap"] = max(abs(summary[n][y] - summary[n][f"onnx_{y}"]) for n in pts)


def _time_models(run: Run, summary: dict[str, Any], pts: dict[str, Path], onnx: dict[str, Path]) -> None:
    """Base and final latency on the latency provider (at batch 1 and at the run's batch size) and on every other
    runtime installed here, the provider's speed-up, and with ``--int8`` the fp32/INT8 table, into ``summary``."""
    from yolo_prune.deployment import int8_table, time_runtimes

    s = run.settings
    runtimes = time_runtimes(pts, onnx, s, run.imgsz)
    chosen = runtimes[s["latency_provider"]]
    lat_batch = _batch_latency(run, pts) if s["batch"] > 1 and get_runtime(s["latency_provider"]).batches else None
    for name in pts:
        summary[name].update(latency=chosen.get(name), latency_batch=lat_batch[name].as_dict() if lat_batch else None)
    summary.update(speedup=chosen.get("speedup"), runtimes=runtimes)
    if chosen.get("error"):
        print(f"warning: {chosen['label']} could not time the models: {chosen['error']}", flush=True)
    elif s.get("int8"):
        summary["int8"] = int8_table(pts, runtimes, s, run.imgsz, run.data, run.adapter.task.name, run.dir)


def _print_outcome(run: Run, summary: dict[str, Any], final_pt: Path, onnx: dict[str, Path]) -> Path:
    """Write the report and print the base-vs-final table and where everything went; returns the report's path."""
    from yolo_prune.report import format_summary_table, no_step_kept_line, slow_widths, slow_widths_line, write_report
    from yolo_prune.report.runtimes import runtime_lines

    md, _ = write_report(run.dir)
    print(format_summary_table(summary))
    for line in runtime_lines(summary)[1:] if len(summary.get("runtimes") or {}) > 1 else []:
        print(f"  also {line}")
    slow = slow_widths_line(slow_widths(read_json(run.dir / LAYERS_FILE), run.settings))
    if slow:
        print(f"note: {slow}")
    print(f"{no_step_kept_line(summary)}: {final_pt}" if summary["no_step_kept"] else f"pruned model: {final_pt}")
    if "final" in onnx and summary["onnx_error"] is None:
        print(f"ONNX: {onnx['final']}")
    print(f"report: {md}")
    return md


def _rejected(log: StepLog) -> dict[str, Any] | None:
    """The step that crossed --max-map-drop and stopped the run, if one did."""
    row = next((r for r in log.rows if r["status"] == "rejected"), None)
    return None if row is None else {"step": row["step"], "map_drop": row["map_drop"]}
