"""The runtimes a model's speed is measured on, registered by name (the values of ``--latency-provider``): ONNX
Runtime on the CPU or CUDA, OpenVINO, ncnn and TensorRT, each a small class beside its peers (``base.Runtime``).
Users deploy on all of them, and a pruned model's speed-up differs between them (BENCHMARKS.md, section 12).

Usage:
    from yolo_prune.runtimes import RUNTIMES, get_runtime, usable_runtimes

    runtime = get_runtime("openvino")
    runtime.require()  # refused, naming the extra to install, when its packages are missing
    print([r.name for r in usable_runtimes()])  # those installed (and with their device) here

CLI:
    yolo-prune --model best.pt --data data.yaml --latency-provider openvino
"""

from __future__ import annotations

from yolo_prune.errors import UserError
from yolo_prune.runtimes.base import Runtime, Session
from yolo_prune.runtimes.ncnn import Ncnn
from yolo_prune.runtimes.onnxruntime import OnnxRuntimeCPU, OnnxRuntimeCUDA
from yolo_prune.runtimes.openvino import OpenVINO
from yolo_prune.runtimes.tensorrt import TensorRT

RUNTIMES: dict[str, Runtime] = {
    r.name: r for r in (OnnxRuntimeCPU(), OnnxRuntimeCUDA(), OpenVINO(), Ncnn(), TensorRT())
}


def get_runtime(name: str) -> Runtime:
    """The runtime registered as ``name``."""
    if name not in RUNTIMES:
        raise UserError(f"latency_provider must be one of {', '.join(RUNTIMES)}, got {name!r}")
    return RUNTIMES[name]


def usable_runtimes(first: str | None = None) -> list[Runtime]:
    """Every runtime usable here, ``first`` first: the report times base and final on each."""
    usable = [r for r in RUNTIMES.values() if r.missing() is None]
    return sorted(usable, key=lambda r: r.name != first)


__all__ = ["RUNTIMES", "Runtime", "Session", "get_runtime", "usable_runtimes"]
