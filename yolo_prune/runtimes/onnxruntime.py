"""ONNX Runtime, on the CPU (``cpu``) or on an NVIDIA GPU through CUDA (``cuda``): the runtime every run measures on
unless told otherwise, of the ``.onnx`` file a run exports beside each checkpoint.

Usage:
    from yolo_prune.runtimes import get_runtime

    session = get_runtime("cpu").load(Path("final.onnx"), threads=1)

CLI:
    yolo-prune --model best.pt --data data.yaml --latency-provider cpu --latency-threads 1
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from yolo_prune.errors import UserError
from yolo_prune.runtimes.base import Runtime, onnx_shape


class OrtSession:
    """One ONNX Runtime session, with only the runtime's provider (a silent CPU fallback would time the wrong
    device) and spinning worker threads off: interleaved, one session's spinning pool would steal the cores the
    other is timed on."""

    def __init__(self, path: Path, provider: str, threads: int | None) -> None:
        from yolo_prune.export import require_onnxruntime

        ort = require_onnxruntime()
        options = ort.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads is not None:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=[provider])
        self.shape = onnx_shape(path)
        self.input = self.session.get_inputs()[0].name

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input: x})


class OnnxRuntimeCPU(Runtime):
    name = "cpu"
    label = "ONNX Runtime cpu"
    extra = "cpu"
    export_format = "onnx"
    provider: ClassVar[str] = "CPUExecutionProvider"

    def missing(self, int8: bool = False) -> str | None:
        from yolo_prune.export import require_onnxruntime

        try:
            available = require_onnxruntime().get_available_providers()
        except UserError as e:
            return str(e)
        if self.provider not in available:
            return (f"ONNX Runtime's {self.provider} is not available here (available: {', '.join(available)}); "
                    f"install 'yolo-prune[{self.extra}]' on a CUDA machine, or use --latency-provider cpu")  # fmt: skip
        return None

    def export(self, pt_path: Path, imgsz: int, batch: int = 1, int8: bool = False, data: str | None = None) -> Path:
        """The run's own ONNX export (fp32, simplified); INT8 through Ultralytics' ONNX Runtime quantization."""
        if not int8:
            from yolo_prune.export import export_onnx

            return export_onnx(pt_path, imgsz, batch)
        return super().export(pt_path, imgsz, batch, int8, data)

    def load(self, path: Path, threads: int | None) -> OrtSession:
        if Path(path).suffix != ".onnx":
            raise UserError(f"{self.label} runs .onnx files, not {path}")
        return OrtSession(path, self.provider, threads)


class OnnxRuntimeCUDA(OnnxRuntimeCPU):
    name = "cuda"
    label = "ONNX Runtime cuda"
    extra = "gpu"
    provider = "CUDAExecutionProvider"
    thread_clock = False  # the GPU computes: only the wall clock sees it
