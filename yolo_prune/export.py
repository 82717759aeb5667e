"""Export a checkpoint to ONNX with Ultralytics' own exporter, check it against PyTorch and measure its mAP.

The ONNX file carries Ultralytics' metadata (names, stride, imgsz, batch), so Ultralytics' validator and predictor
run it as they run any exported YOLO model. Nothing is pip-installed at run time: the requirements are checked here
first and Ultralytics' own checks (which may call pip) are switched off while it exports or loads ONNX.

Usage:
    from pathlib import Path
    from yolo_prune.export import compare_with_torch, export_like, export_model, export_onnx, float32_rounding
    from yolo_prune.export import onnx_tolerance
    from yolo_prune.export import validate_export, validate_onnx

    onnx_path = export_onnx(Path("runs/prune/final.pt"), imgsz=640)  # -> runs/prune/final.onnx
    export_model(model, Path("runs/prune/variant.onnx"), imgsz=640)  # an in-memory stock-form model, same exporter
    export_like(Path("runs/prune/variant.onnx"), narrower, Path("runs/prune/narrower.onnx"))  # same graph, new widths
    rounding = float32_rounding(Path("runs/prune/final.pt"), imgsz=640)  # how far float32 alone moves its outputs
    if compare_with_torch(Path("runs/prune/final.pt"), onnx_path, imgsz=640) > onnx_tolerance(rounding):
        print("ONNX output differs from PyTorch")
    metrics = validate_onnx(onnx_path, data="data.yaml", imgsz=640, save_dir=Path("runs/prune/onnx_val"))
    int8 = validate_export(Path("runs/prune/final_int8_openvino_model"), "data.yaml", 640, "pose")  # any export
    print(metrics["map50_95"], metrics["map50"])
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from yolo_prune.errors import UserError
from yolo_prune.runtimes.base import installed
from yolo_prune.structure import part_of, require_task
from yolo_prune.structure.tasks import task_named

# compare_with_torch() measures boxes as fractions of the image side and class scores as probabilities, so one
# tolerance covers both. 1e-3 is a box error of 0.1 % of the image (0.64 px at 640) or a score error of 0.001: far
# below anything that moves mAP (IoU thresholds step by 0.05). A correct fp32 export of YOLOv8n/s differs by about
# 2e-7 on this scale (1.2e-4 px at 640: two float32 ulps, from Conv+BN fusion and ONNX Runtime's graph rewrites),
# so real exports never trip it, while a wrong graph (a broken split, a lost BN, a head bug) is off by far more.
ONNX_TOLERANCE = 1e-3
# A barely trained model (one epoch on a few images, BatchNorms recalibrated on them) runs activations into the
# thousands on a random input, and float32 rounding alone then moves its outputs hundreds of times as far (6e-5 to
# 5e-4 for one-epoch yolo11n-obb width searches; their base: 7e-7): for such a model the check allows ROUNDING_SLACK
# times what rounding moves it (``float32_rounding``). Two float32 evaluations in different orders (ONNX Runtime
# fuses Conv+BN) differ by about one such distance (0.7-2 times it on five such searches); a wrong graph by the
# outputs' own size.
ROUNDING_SLACK = 10

ORT_CPU, ORT_GPU = "onnxruntime", "onnxruntime-gpu"
# How every model is exported: fp32 on the CPU, static shape, simplified (what the user deploys and what is timed).
_EXPORT_ARGS = {"format": "onnx", "simplify": True, "dynamic": False, "device": "cpu"}
_EXPORT_REQUIREMENTS = {"onnx": ">=1.12.0,<2.0.0", "onnxslim": ">=0.1.82"}  # what Ultralytics' export_onnx asks for


class ExportError(RuntimeError):
    """Ultralytics' exporter failed on a checkpoint that loaded: a bug or an unsupported model, not a user error."""


def require_onnxruntime() -> ModuleType:
    """Import ONNX Runtime after checking that exactly one of its CPU and GPU builds is installed.

    ``onnxruntime`` and ``onnxruntime-gpu`` install the same ``onnxruntime`` module over each other; with both
    present, whichever was installed last wins and the other's files are half there, so we refuse to guess.
    """
    both = [d for d in (ORT_CPU, ORT_GPU) if installed(d)]
    if len(both) == 2:
        raise UserError(
            f"both {ORT_CPU} and {ORT_GPU} are installed, and they must not be (they provide the same module): "
            f"uninstall one ('pip uninstall {ORT_GPU}' to keep CPU, 'pip uninstall {ORT_CPU}' to keep GPU), then "
            "'pip install --force-reinstall' the one you keep"
        )
    if not both:
        raise UserError(
            "ONNX Runtime is not installed: run \"pip install 'yolo-prune[cpu]'\" "
            "(or \"pip install 'yolo-prune[gpu]'\" for CUDA)"
        )
    try:
        import onnxruntime
    except ImportError as e:
        raise UserError(f"{both[0]} is installed but cannot be imported ({e}): reinstall it") from e
    return onnxruntime


def require_export_packages() -> None:
    """Fail with a pip command if the exporter's packages are missing, instead of letting Ultralytics pip-install."""
    from ultralytics.utils.checks import check_version

    for dist, spec in _EXPORT_REQUIREMENTS.items():
        version = installed(dist)
        if version is None or not check_version(version, spec):
            found = f"found {version}" if version else "not installed"
            raise UserError(f"ONNX export needs {dist}{spec} ({found}): run \"pip install '{dist}{spec}'\"")
    require_onnxruntime()


@contextlib.contextmanager
def _no_requirement_checks() -> Iterator[None]:
    """Switch Ultralytics' ``check_requirements`` (which may run pip) off: the packages were checked already."""
    key = "ULTRALYTICS_SKIP_REQUIREMENTS_CHECKS"
    old = os.environ.get(key)
    os.environ[key] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


class _DropErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


@contextlib.contextmanager
def _no_error_log() -> Iterator[None]:
    """Keep Ultralytics' exporter from logging its failure ("ERROR ... export failure"): the ExportError raised
    instead says the same in the one ``error:`` line a failed run prints."""
    from ultralytics.utils import LOGGER

    drop = _DropErrors()
    LOGGER.addFilter(drop)
    try:
        yield
    finally:
        LOGGER.removeFilter(drop)


def onnx_input_shape(onnx_path: Path) -> tuple[int, int, int, int]:
    """The static (batch, channels, height, width) input shape of an ONNX model; UserError if it is dynamic."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
    if len(shape) != 4 or None in shape:
        raise UserError(f"{onnx_path} has input shape {shape}; export it with a static shape (dynamic=False)")
    return shape


def _require_file(path: Path, what: str) -> Path:
    """``path`` as a Path, or a UserError naming ``what`` is missing."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    return path


def load_for_export(pt_path: Path, imgsz: int) -> Any:
    """``pt_path`` as an Ultralytics ``YOLO`` model, once the exporter's packages, the file and ``imgsz`` (a positive
    multiple of its stride) are checked."""
    pt_path = _require_file(pt_path, "checkpoint")
    require_export_packages()
    from ultralytics import YOLO

    try:
        model = YOLO(str(pt_path))
    except Exception as e:
        raise UserError(f"cannot load {pt_path} as an Ultralytics checkpoint: {type(e).__name__}: {e}") from e
    stride = int(max(model.model.stride))
    if imgsz <= 0 or imgsz % stride:
        raise UserError(f"imgsz must be a positive multiple of the model's stride {stride}, got {imgsz}")
    return model


@contextlib.contextmanager
def quiet_export() -> Iterator[None]:
    """Ultralytics' exporter with its requirement checks (which may run pip) off and its failure log dropped: the
    packages were checked already, and the ExportError raised instead says the same in one line."""
    with _no_requirement_checks(), _no_error_log():
        yield


def export_onnx(pt_path: Path, imgsz: int, batch: int = 1) -> Path:
    """Export ``pt_path`` to ``pt_path.with_suffix('.onnx')`` (fp32, static shape, simplified), overwriting it.

    Goes through ``YOLO.export`` so that the file carries Ultralytics' metadata. The exporter fuses a deep copy of the
    model, so the checkpoint itself is left untouched, and the .onnx is the only file it writes.
    """
    if batch < 1:
        raise UserError(f"batch must be at least 1, got {batch}")
    model = load_for_export(pt_path, imgsz)
    target = Path(pt_path).with_suffix(".onnx")
    target.unlink(missing_ok=True)  # a failed export must not leave an older .onnx that looks like its result
    try:
        with quiet_export():
            written = model.export(**_EXPORT_ARGS, imgsz=imgsz, batch=batch, verbose=False)
    except Exception as e:
        target.unlink(missing_ok=True)  # what the exporter wrote before its own checks failed: not to be trusted
        raise ExportError(f"ONNX export of {pt_path} failed: {' '.join(f'{type(e).__name__}: {e}'.split())}") from e
    if not written or Path(written).resolve() != target.resolve():
        raise ExportError(f"Ultralytics exported {pt_path} to {written!r}, expected {target}")
    return target


def export_model(model: Any, target: Path, imgsz: int, batch: int = 1) -> Path:
    """Export an in-memory stock-form detection model to ``target`` with the exporter and options ``export_onnx``
    uses, without writing a checkpoint first. The model is not changed (the exporter works on a copy)."""
    import copy

    from ultralytics.engine.exporter import Exporter
    from ultralytics.utils import LOGGER

    require_export_packages()
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    named = copy.copy(model)  # a shallow copy only carries the output path: the exporter takes it from ``pt_path``
    named.pt_path = str(target.with_suffix(".pt"))
    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)  # internal exports: their banners would drown the step lines
    try:
        with _no_requirement_checks():
            exporter = Exporter(overrides={**_EXPORT_ARGS, "imgsz": imgsz, "batch": batch, "verbose": False})
            written = exporter(model=named)
    except Exception as e:
        raise ExportError(f"ONNX export of an in-memory model to {target} failed: {type(e).__name__}: {e}") from e
    finally:
        LOGGER.setLevel(level)
    if Path(written).resolve() != target.resolve():
        raise ExportError(f"Ultralytics exported to {written!r}, expected {target}")
    return target


def export_like(template: Path, model: Any, target: Path) -> Path:
    """What exporting stock-form ``model`` gives, made from ``template`` (an export of a model that differs from it in
    widths only) without tracing it: the template's graph with every conv's weights (transposed convs too; BatchNorm
    folded in, as the exporter folds it) and every block's split sizes taken from ``model`` (its part's
    ``split_sizes``). Milliseconds
    instead of seconds, for the dozens of copies a latency table times; the outputs match a real export's
    (tests/test_speed_target.py, tests/test_conformance.py)."""
    import onnx
    import torch
    import torch.nn as nn
    from onnx import numpy_helper
    from torch.nn.utils.fusion import fuse_conv_bn_weights

    proto = onnx.load(str(template))
    graph, modules, added = proto.graph, dict(model.named_modules()), []

    def tensor(name: str, value: torch.Tensor) -> str:
        value = value.detach().cpu()
        added.append(numpy_helper.from_array((value if value.dtype == torch.int64 else value.float()).numpy(), name))
        return name

    for node in graph.node:
        if node.op_type in ("Conv", "ConvTranspose"):
            path = node.input[1].removesuffix(".weight")  # the exporter names weights after their layer
            conv, parent = modules.get(path), modules.get(path.rpartition(".")[0])
            if not isinstance(conv, nn.ConvTranspose2d if node.op_type == "ConvTranspose" else nn.Conv2d):
                raise ExportError(f"{template}: {node.name} reads {node.input[1]}, which is no conv of the model")
            weight, bias, bn = conv.weight, conv.bias, getattr(parent, "bn", None)
            if isinstance(bn, nn.BatchNorm2d) and path.endswith(".conv"):
                weight, bias = fuse_conv_bn_weights(weight, bias, bn.running_mean, bn.running_var, bn.eps, bn.weight,
                                                    bn.bias)  # fmt: skip
            inputs = [node.input[0], tensor(f"{path}.weight:like", weight)]
            if bias is not None or len(node.input) > 2:
                inputs.append(tensor(f"{path}.bias:like", bias if bias is not None else torch.zeros(conv.out_channels)))
            del node.input[:]
            node.input.extend(inputs)
            for attribute in node.attribute:
                if attribute.name == "group":
                    attribute.i = conv.groups
        elif node.op_type == "Split":
            scope = node.name.strip("/").split("/")  # "/model.2/Split": layer 2's own split; deeper ones are inside
            block = modules.get(scope[0]) if len(scope) == 2 else None  # its modules (C2PSA's attention: fixed width)
            part = part_of(block) if block is not None else None
            split = part.split_sizes(block) if part is not None else None
            if split is not None:
                sizes = torch.tensor(split, dtype=torch.int64)
                if len(node.input) > 1:
                    node.input[1] = tensor(f"{node.name}:sizes", sizes)
                for attribute in node.attribute:
                    if attribute.name == "split":
                        del attribute.ints[:]
                        attribute.ints.extend(sizes.tolist())
    graph.initializer.extend(added)
    used = {name for node in graph.node for name in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.value_info[:]  # shapes inferred for the template's widths
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(target))
    return target


def compare_with_torch(pt_path: Path, onnx_path: Path, imgsz: int, seed: int = 0) -> float:
    """Largest difference between the PyTorch and ONNX Runtime outputs on one random input; compare to
    ``onnx_tolerance``.

    Every output is compared (segmentation's prototypes too), each as the model's task lays it out (detection:
    ``output0`` (batch, 4 + nc, anchors), xywh boxes in input pixels, then class probabilities). The first output's
    pixel rows are divided by ``imgsz`` so that they and the scores share one scale (see ``ONNX_TOLERANCE``). The
    PyTorch side is the unfused checkpoint in eval mode, fp32 on CPU, i.e. the model as saved, not the exporter's
    fused copy.
    """
    import torch

    pt_path = _require_file(pt_path, "checkpoint")
    onnx_path = _require_file(onnx_path, "ONNX model")
    batch, channels, h, w = onnx_input_shape(onnx_path)
    if (h, w) != (imgsz, imgsz):
        raise ValueError(f"{onnx_path} takes {h}x{w} images, not imgsz={imgsz}")
    x = _random_input((batch, channels, h, w), seed)
    model, task = _load(pt_path)
    with torch.inference_mode():
        expected = [t.numpy() for t in task.eval_outputs(model(torch.from_numpy(x)))]

    ort = require_onnxruntime()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = sorted(o.name for o in session.get_outputs())
    if len(names) != len(expected):
        raise ValueError(f"the ONNX model has {len(names)} outputs ({', '.join(names)}), PyTorch {len(expected)}")
    got = session.run(names, {session.get_inputs()[0].name: x})
    for name, want, out in zip(names, expected, got):
        if out.shape != want.shape:
            raise ValueError(f"ONNX output {name} shape {out.shape} differs from PyTorch's {want.shape}")
    return _worst_difference(task, model, expected, got, imgsz)


def float32_rounding(pt_path: Path, imgsz: int, seed: int = 0) -> float:
    """How far float32 rounding alone moves the checkpoint's outputs on ``compare_with_torch``'s input (batch 1), on
    its scale: the PyTorch model in float32 against itself in float64. About 1e-7 for a trained model."""
    import torch

    model, task = _load(_require_file(pt_path, "checkpoint"))
    x = torch.from_numpy(_random_input((1, model.yaml.get("channels", 3), imgsz, imgsz), seed))
    with torch.inference_mode():
        fp32 = [t.numpy() for t in task.eval_outputs(model(x))]
        fp64 = [t.numpy() for t in task.eval_outputs(model.double()(x.double()))]
    return _worst_difference(task, model, fp64, fp32, imgsz)


def onnx_tolerance(rounding: float) -> float:
    """What ``compare_with_torch`` may find for a model whose float32 rounding moves its outputs ``rounding`` far:
    ``ONNX_TOLERANCE``, or ``ROUNDING_SLACK`` times that rounding where larger."""
    return max(ONNX_TOLERANCE, ROUNDING_SLACK * rounding)


def _random_input(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(shape, dtype=np.float32)  # images are scaled to [0, 1]


def _load(pt_path: Path) -> tuple[Any, Any]:
    """The checkpoint's model (unfused, fp32, eval, on the CPU) and its task."""
    from ultralytics import YOLO

    model = YOLO(str(pt_path)).model.float().eval().cpu()
    return model, require_task(model, pt_path)


def _worst_difference(task: Any, model: Any, want: list[np.ndarray], got: list[np.ndarray], imgsz: int) -> float:
    """The largest difference between two sets of outputs, the first output's pixel rows divided by ``imgsz``."""
    worst = 0.0
    for i, (a, b) in enumerate(zip(want, got)):
        diff = np.abs(np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64))
        if i == 0:
            diff[:, task.pixel_rows(model, diff.shape[1])] /= imgsz
        worst = max(worst, float(diff.max()))
    return worst


def validate_onnx(onnx_path: Path, data: str, imgsz: int, batch: int = 1, save_dir: Path | None = None) -> dict:
    """The task's metrics of the ONNX model (ONNX Runtime, CPU) from Ultralytics' own validator for its task (named
    in the metadata Ultralytics' exporter writes).

    What the user deploys is the ONNX file, so its accuracy is measured on it rather than assumed from the .pt.
    Outputs go to ``save_dir`` (a temporary directory, removed afterwards, when None). Ultralytics also writes
    its label cache (``labels/<split>.cache``) beside the data set, as training does.
    """
    onnx_path = _require_file(onnx_path, "ONNX model")
    shape = onnx_input_shape(onnx_path)
    if (shape[0], shape[2], shape[3]) != (batch, imgsz, imgsz):
        raise ValueError(f"{onnx_path} takes input {shape}, not batch={batch} at imgsz={imgsz}")
    require_onnxruntime()
    return validate_export(onnx_path, data, imgsz, _metadata(onnx_path).get("task"), batch, save_dir)


def validate_export(path: Path, data: str, imgsz: int, task_name: str | None, batch: int = 1,
                    save_dir: Path | None = None) -> dict:  # fmt: skip
    """The task's metrics of any model Ultralytics' exporter wrote (an ONNX file, an OpenVINO or ncnn folder, a
    TensorRT engine: whatever its ``AutoBackend`` runs), from its own validator for ``task_name``."""
    task = task_named(task_name, path)
    if not task.folder_data:
        _require_file(Path(data), "data set YAML")
    elif not Path(data).is_dir():
        raise UserError(f"data set folder not found: {data}")
    args = dict(
        model=str(path),
        data=str(data),
        imgsz=imgsz,
        batch=batch,
        device="cpu",
        task=task.name,
        split="val",
        plots=False,
        rect=False,
        save_json=False,
        save_txt=False,
        verbose=False,
        workers=0,
    )
    with contextlib.ExitStack() as stack:
        if save_dir is None:
            save_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="yolo_prune_val_")))
        stack.enter_context(_no_requirement_checks())
        stats = task.validator_cls()(args=args, save_dir=Path(save_dir))()
    return task.scores(stats)


def _metadata(onnx_path: Path) -> dict[str, str]:
    """The metadata Ultralytics' exporter writes into an ONNX file (task, names, stride, imgsz...)."""
    import onnx

    return {p.key: p.value for p in onnx.load(str(onnx_path), load_external_data=False).metadata_props}
