"""What every runtime a model's speed is measured on provides (``Runtime``), and how its sessions are timed.

A runtime names the packages it needs (an optional extra of yolo-prune, refused before any work when missing), the
Ultralytics export format whose files it runs (so that the model timed is the one the user deploys), how it reads
the ONNX graphs the speed target writes for its proposals (``load`` takes either), and the channel multiple its
kernels run fast at (``--round-to``'s default on it).

Usage:
    from yolo_prune.runtimes import get_runtime

    runtime = get_runtime("openvino")
    runtime.require()  # UserError naming the extra when a package is missing
    path = runtime.export(Path("final.pt"), imgsz=640)  # final_openvino_model/, written by Ultralytics' exporter
    session = runtime.load(path, threads=1)  # or runtime.load(Path("proposal.onnx"), threads=1)
    outputs = session.run(np.zeros(session.shape, dtype=np.float32))

CLI:
    yolo-prune --model best.pt --data data.yaml --target-speedup 2 --latency-provider openvino
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from yolo_prune.errors import UserError


class Session(Protocol):
    """A loaded model: ``shape`` is its input (batch, channels, height, width); ``run`` one inference."""

    shape: tuple[int, int, int, int]

    def run(self, x: np.ndarray) -> list[np.ndarray]: ...


def installed(dist: str) -> str | None:
    """Version of installed distribution ``dist``, or None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


class Runtime:
    """One runtime, registered under ``name`` (the value of ``--latency-provider``)."""

    name: ClassVar[str]
    label: ClassVar[str]  # in words, for logs and reports
    extra: ClassVar[str]  # pip install 'yolo-prune[<extra>]' installs what it needs
    packages: ClassVar[dict[str, str]] = {}  # distribution -> version spec (Ultralytics' exporter asks for these)
    export_format: ClassVar[str]  # Ultralytics' format name for the files it runs
    fast_multiple: ClassVar[int] = 8  # channel counts its kernels run at full speed (BENCHMARKS.md, section 2)
    # Each single-threaded run computes in the caller's thread, so that thread's CPU time is the run's time.
    thread_clock: ClassVar[bool] = True
    batches: ClassVar[bool] = True  # runs a batch of images at once (ncnn runs one image at a time)
    int8_packages: ClassVar[dict[str, str]] = {}  # what INT8 export needs besides ``packages``
    no_int8: ClassVar[str | None] = None  # why Ultralytics exports no INT8 model for it, where it does not

    def missing(self, int8: bool = False) -> str | None:
        """Why the runtime cannot be used here (a package missing, no device), or None."""
        from ultralytics.utils.checks import check_version

        if int8 and self.no_int8:
            return f"--int8 is not available for --latency-provider {self.name}: {self.no_int8}"
        wanted = {**self.packages, **(self.int8_packages if int8 else {})}
        for dist, spec in wanted.items():
            version = installed(dist)
            if version is None or not check_version(version, spec):
                found = f"found {version}" if version else "not installed"
                need = f"{self.label}{' INT8' if int8 else ''} needs {dist}{spec} ({found})"
                return f"{need}: pip install 'yolo-prune[{self.extra}]'"
        return None

    def require(self, int8: bool = False) -> None:
        """Refuse, with the extra to install, when ``missing`` says the runtime cannot be used."""
        why = self.missing(int8)
        if why:
            raise UserError(f"latency_provider {self.name}: {why}")

    def export(self, pt_path: Path, imgsz: int, batch: int = 1, int8: bool = False, data: str | None = None) -> Path:
        """``pt_path`` exported by Ultralytics' exporter for this runtime, beside it (INT8 calibrated on ``data``'s
        train split, so that the val split's metrics are not measured on calibration images); the file or folder
        it wrote."""
        from yolo_prune.export import ExportError, load_for_export, quiet_export

        model = load_for_export(pt_path, imgsz)
        args: dict[str, Any] = {"format": self.export_format, "imgsz": imgsz, "batch": batch, "device": self.device,
                                "dynamic": False, "verbose": False, **self.export_args}  # fmt: skip
        if int8:
            args.update(quantize=8, data=data, split="train")
        try:
            with quiet_export():
                written = model.export(**args)
        except Exception as e:
            what = f"{self.label}{' INT8' if int8 else ''} export of {pt_path}"
            raise ExportError(f"{what} failed: {' '.join(f'{type(e).__name__}: {e}'.split())}") from e
        return Path(written)

    device: ClassVar[str] = "cpu"  # where Ultralytics' exporter traces the model for it
    export_args: ClassVar[dict[str, Any]] = {}

    def load(self, path: Path, threads: int | None) -> Session:
        """A session on ``path``: this runtime's export, or an ONNX file (the speed target's proposals)."""
        raise NotImplementedError

    def timing_label(self, threads: int | None) -> str:
        """How its models are timed, in words."""
        if threads == 1 and self.thread_clock:
            return f"{self.label}, 1 thread, timed by its CPU time"
        return f"{self.label}, " + (f"{threads} threads" if threads else "its own threads")


@contextlib.contextmanager
def quiet(logger_name: str) -> Any:
    """Silence a runtime's own logger below warnings while it converts."""
    log = logging.getLogger(logger_name)
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


def onnx_shape(path: Path) -> tuple[int, int, int, int]:
    """The static input shape of an ONNX file."""
    from yolo_prune.export import onnx_input_shape

    return onnx_input_shape(path)


def metadata_shape(folder: Path) -> tuple[int, int, int, int]:
    """The input shape an Ultralytics export folder's ``metadata.yaml`` states (batch, 3 or its channels, imgsz)."""
    import yaml

    meta = folder / "metadata.yaml"
    if not meta.is_file():
        raise UserError(f"{folder} has no metadata.yaml: not a folder Ultralytics' exporter wrote")
    data = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
    h, w = (list(data["imgsz"]) * 2)[:2] if isinstance(data.get("imgsz"), (list, tuple)) else (data["imgsz"],) * 2
    return int(data.get("batch", 1)), int(data.get("channels", 3)), int(h), int(w)
