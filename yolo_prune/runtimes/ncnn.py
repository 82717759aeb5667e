"""ncnn on the CPU (``ncnn``): Tencent's runtime for ARM boards and phones, of the ``<name>_ncnn_model/`` folder
Ultralytics' exporter writes through PNNX. The speed target's proposals are ONNX files: PNNX converts each to ncnn
(well under a second for a small model), the same converter the exporter uses, fp32 weights as the exporter writes
them. Sessions run on the CPU without Vulkan, ``threads`` as ``opt.num_threads``, one image at a time (an ncnn
model has no batch dimension; Ultralytics' ncnn backend loops over a batch).

Usage:
    from yolo_prune.runtimes import get_runtime

    session = get_runtime("ncnn").load(Path("final_ncnn_model"), threads=1)

CLI:
    pip install 'yolo-prune[ncnn]'
    yolo-prune --model best.pt --data data.yaml --target-speedup 2 --latency-provider ncnn --latency-threads 1
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from yolo_prune.errors import UserError
from yolo_prune.runtimes.base import Runtime, metadata_shape, onnx_shape

PNNX = "20260526"  # the release Ultralytics' exporter pins (a later one's ncnn models crash, pnnx issue 293)


class NcnnSession:
    def __init__(self, folder: Path, shape: tuple[int, int, int, int], threads: int | None) -> None:
        import ncnn

        params = sorted(Path(folder).glob("*.ncnn.param")) or sorted(Path(folder).glob("*.param"))
        if not params:
            raise UserError(f"{folder} holds no ncnn model (*.param)")
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        if threads is not None:
            self.net.opt.num_threads = threads
        self.net.load_param(str(params[0]))
        self.net.load_model(str(params[0].with_suffix(".bin")))
        self.mat, self.shape = ncnn.Mat, shape
        self.input, self.outputs = self.net.input_names()[0], sorted(self.net.output_names())

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        with self.net.create_extractor() as ex:
            ex.input(self.input, self.mat(np.ascontiguousarray(x[0])))
            return [np.array(ex.extract(name)[1])[None] for name in self.outputs]


class Ncnn(Runtime):
    name = "ncnn"
    label = "ncnn CPU"
    extra = "ncnn"
    packages = {"ncnn": ">=1.0.20240410", "pnnx": f"=={PNNX}"}
    export_format = "ncnn"
    no_int8 = "Ultralytics' ncnn export writes fp32 or fp16 models only"
    batches = False

    def load(self, path: Path, threads: int | None) -> NcnnSession:
        path = Path(path)
        if path.suffix != ".onnx":
            return NcnnSession(path, metadata_shape(path), threads)
        shape = onnx_shape(path)
        if shape[0] != 1:
            raise UserError(f"ncnn runs one image at a time; {path} takes a batch of {shape[0]}")
        with tempfile.TemporaryDirectory(prefix="yolo_prune_ncnn_") as tmp:
            onnx = Path(tmp) / "model.onnx"
            onnx.symlink_to(path.resolve())
            convert(onnx, shape)
            return NcnnSession(Path(tmp), shape, threads)  # the net holds its weights: the folder may go


def convert(onnx: Path, shape: tuple[int, int, int, int]) -> None:
    """PNNX's ONNX to ncnn conversion, beside ``onnx`` (``model.ncnn.param`` and ``model.ncnn.bin``)."""
    import pnnx

    exe = Path(pnnx.__file__).parent / "pnnx"
    cmd = [str(exe), onnx.name, f"inputshape=[{','.join(map(str, shape))}]", "fp16=0"]
    done = subprocess.run(cmd, cwd=onnx.parent, capture_output=True, text=True)
    if done.returncode or not (onnx.parent / "model.ncnn.param").is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"PNNX could not convert {onnx} to ncnn: {' '.join(tail)}")
