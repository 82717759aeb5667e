"""Where the final model is deployed: base and final timed on every runtime installed here (the run's latency
provider first), so that the report shows where the speed-up holds and where it does not; and, with ``--int8``, both
quantized the way Ultralytics exports INT8 for the latency provider, so that it shows what pruning and INT8 give
together and what each costs.

Each runtime times the files Ultralytics' exporter writes for it, beside the checkpoints (``weights/final.onnx``,
``weights/final_openvino_model/``, ``weights/final_ncnn_model/``...): the model timed is the one the user deploys.
A runtime that fails to export or run a model gets its error in its row; the run goes on.

Usage:
    from yolo_prune.deployment import int8_table, time_runtimes

    rows = time_runtimes(pts, onnx, settings, imgsz=640)  # {"cpu": {"base": {...}, "final": {...}, "speedup": 2.1}}
    table = int8_table(pts, rows, settings, imgsz=640, data="data.yaml", task="segment", run_dir=run_dir)

CLI:
    yolo-prune --model best.pt --data data.yaml --latency-provider openvino --int8
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from yolo_prune.export import validate_export
from yolo_prune.latency import PRECISION, compare_latency, measure_interleaved
from yolo_prune.runtimes import Runtime, get_runtime, usable_runtimes
from yolo_prune.rundir import INT8_DIR, VAL_DIR

def timing(settings: dict[str, Any]) -> dict[str, Any]:
    """How the end of a run times its models: at most ``latency_runs`` rounds after ``latency_warmup``, fewer once
    every median is known to ``PRECISION`` or once ``latency_budget`` seconds have gone (at 640 px a bigger model's
    batch takes seconds a run), on ``latency_threads``."""
    return dict(runs=settings["latency_runs"], warmup=settings["latency_warmup"],
                threads=settings.get("latency_threads"), precision=PRECISION,
                budget_s=settings.get("latency_budget"))  # fmt: skip


def _exports(runtime: Runtime, pts: dict[str, Path], onnx: dict[str, Path], imgsz: int) -> dict[str, Path]:
    """Base and final as ``runtime`` runs them: the run's own ONNX exports for ONNX Runtime, else Ultralytics'
    exporter's files for it, beside the checkpoints."""
    if runtime.export_format == "onnx":
        return onnx
    return {name: runtime.export(pt, imgsz) for name, pt in pts.items()}


def time_runtimes(pts: dict[str, Path], onnx: dict[str, Path], settings: dict[str, Any], imgsz: int) -> dict[str, Any]:
    """Base and final timed on the latency provider and, with ``compare_runtimes``, on every other runtime usable
    here, each pair in interleaved rounds (all of them within one ``latency_budget``): per runtime (provider first)
    its label, both models' latency, the speed-up and the files timed, or the error that stopped it."""
    provider = settings["latency_provider"]
    runtimes = usable_runtimes(first=provider) if settings.get("compare_runtimes", True) else [get_runtime(provider)]
    out: dict[str, Any] = {}
    share = timing(settings)  # one budget for the whole table
    share["budget_s"] = share["budget_s"] / len(runtimes) if share["budget_s"] else None
    for runtime in runtimes:
        row: dict[str, Any] = {"label": runtime.label}
        try:
            paths = _exports(runtime, pts, onnx, imgsz)
            lat = compare_latency(paths["base"], paths["final"], provider=runtime.name, **share)
        except Exception as e:  # one runtime's failure is its row's, not the run's
            row["error"] = " ".join(f"{type(e).__name__}: {e}".split())
        else:
            row.update(base=lat["base"].as_dict(), final=lat["final"].as_dict(), speedup=lat["speedup"],
                       files={name: path.name for name, path in paths.items()})  # fmt: skip
        out[runtime.name] = row
    return out


def int8_table(pts: dict[str, Path], runtimes: dict[str, Any], settings: dict[str, Any], imgsz: int, data: str,
               task: str, run_dir: Path) -> dict[str, Any]:  # fmt: skip
    """Base and final, fp32 and INT8, on the latency provider: each one's task metrics from Ultralytics' validator
    on the exported model and the four timed in the same rounds. INT8 is Ultralytics' export with ``quantize=8`` for
    the provider, calibrated on the data set's train split (the metrics are the val split's), exported from copies
    of the checkpoints in ``weights/int8/`` (the exporter replaces an ONNX file beside its checkpoint)."""
    runtime = get_runtime(settings["latency_provider"])
    folder = run_dir / INT8_DIR
    folder.mkdir(parents=True, exist_ok=True)
    fp32 = {name: run_dir / "weights" / runtimes[runtime.name]["files"][name] for name in pts}
    models: dict[str, Path] = {}
    for name, pt in pts.items():
        copy = folder / pt.name
        shutil.copyfile(pt, copy)
        models[f"{name} fp32"] = fp32[name]
        models[f"{name} INT8"] = runtime.export(copy, imgsz, int8=True, data=data)
        copy.unlink()
    rows: dict[str, Any] = {}
    for key, path in models.items():
        save_dir = run_dir / VAL_DIR / f"{runtime.name}_{key.replace(' ', '_')}"
        rows[key] = validate_export(path, data, imgsz, task, save_dir=save_dir)
        rows[key]["file"] = str(path.relative_to(run_dir))
    stats = measure_interleaved(list(models.values()), provider=runtime.name, **timing(settings))
    for key, s in zip(models, stats):
        rows[key]["latency"] = s.as_dict()
    return {"provider": runtime.name, "label": runtime.label, "rows": rows}
