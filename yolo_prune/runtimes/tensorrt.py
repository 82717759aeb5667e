"""TensorRT on an NVIDIA GPU (``tensorrt``): the ``.engine`` file Ultralytics' exporter builds from its ONNX export
(on the GPU, fp32 unless ``--int8``). The speed target's proposals are ONNX files, built into engines by Ultralytics'
own ``onnx2engine`` (tens of seconds each). Sessions run through Ultralytics' ``AutoBackend`` and are timed by the
wall clock after a CUDA synchronize.

Usage:
    from yolo_prune.runtimes import get_runtime

    session = get_runtime("tensorrt").load(Path("final.engine"), threads=None)

CLI:
    pip install 'yolo-prune[tensorrt]'
    yolo-prune --model best.pt --data data.yaml --target-speedup 2 --latency-provider tensorrt --device 0
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from yolo_prune.runtimes.base import Runtime, onnx_shape


class TensorRTSession:
    def __init__(self, engine: Path, shape: tuple[int, int, int, int] | None = None) -> None:
        import torch
        from ultralytics.nn.autobackend import AutoBackend

        self.torch = torch
        self.backend = AutoBackend(str(engine), device=torch.device("cuda:0"), verbose=False)
        self.shape = shape or (int(self.backend.batch), 3, *[int(s) for s in self.backend.imgsz])

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        y = self.backend(self.torch.from_numpy(x).to("cuda:0"))
        self.torch.cuda.synchronize()
        return [t.cpu().numpy() for t in (y if isinstance(y, (list, tuple)) else [y])]


class TensorRT(Runtime):
    name = "tensorrt"
    label = "TensorRT"
    extra = "tensorrt"
    packages = {"tensorrt": ">=8.6"}
    export_format = "engine"
    device = "0"
    thread_clock = False

    def missing(self, int8: bool = False) -> str | None:
        import torch

        if not torch.cuda.is_available():
            return "TensorRT needs an NVIDIA GPU, and torch sees none here: use --latency-provider cpu or openvino"
        return super().missing(int8)

    def load(self, path: Path, threads: int | None) -> TensorRTSession:
        path = Path(path)
        if path.suffix != ".onnx":
            return TensorRTSession(path)
        from ultralytics.utils.export.engine import onnx2engine

        shape = onnx_shape(path)
        with tempfile.TemporaryDirectory(prefix="yolo_prune_trt_") as tmp:
            engine = Path(tmp) / "model.engine"
            onnx2engine(str(path), engine, shape=shape)
            return TensorRTSession(engine, shape)
