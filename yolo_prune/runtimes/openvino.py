"""OpenVINO on the CPU (``openvino``): the runtime Ultralytics recommends on Intel CPUs, of the
``<name>_openvino_model/`` folder its exporter writes. It reads ONNX files too, which the speed target's proposals
are: the graph it compiles from either is the same (their times agree within the noise, BENCHMARKS.md section 12).
Models are compiled as users deploy them, with OpenVINO's defaults for the machine (its inference precision
included) and the latency hint, one stream; ``threads`` sets ``INFERENCE_NUM_THREADS``.

Usage:
    from yolo_prune.runtimes import get_runtime

    session = get_runtime("openvino").load(Path("final_openvino_model"), threads=1)

CLI:
    pip install 'yolo-prune[openvino]'
    yolo-prune --model best.pt --data data.yaml --target-speedup 2 --latency-provider openvino --latency-threads 1
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yolo_prune.errors import UserError
from yolo_prune.runtimes.base import Runtime


class OpenVINOSession:
    def __init__(self, path: Path, threads: int | None) -> None:
        import openvino as ov

        path = Path(path)
        if path.is_dir():
            xml = sorted(path.glob("*.xml"))
            if not xml:
                raise UserError(f"{path} holds no OpenVINO model (*.xml)")
            path = xml[0]
        config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        self.request = self.compiled.create_infer_request()
        shape = self.compiled.input(0).get_partial_shape()
        if shape.is_dynamic:
            raise UserError(f"{path} has a dynamic input shape; time a static export (Ultralytics' dynamic=False)")
        self.shape = tuple(int(d) for d in shape.to_shape())

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        result = self.request.infer({0: x})
        return [result[o] for o in self.compiled.outputs]


class OpenVINO(Runtime):
    name = "openvino"
    label = "OpenVINO CPU"
    extra = "openvino"
    packages = {"openvino": ">=2024.0.0"}
    int8_packages = {"nncf": ">=2.14.0"}
    export_format = "openvino"

    def load(self, path: Path, threads: int | None) -> OpenVINOSession:
        return OpenVINOSession(path, threads)
