"""What the benchmark scripts share: build a stock model from Ultralytics' yaml, prune it uniformly without training
(latency depends on the architecture, not on the weights), count its MACs and export it to ONNX.

Usage (from another script in benchmarks/):
    from common import WidthVariant, pruned_model, save_table, slimmed, sparse_checkpoint, to_onnx, training_options
    training_options(ap)  # --imgsz, --batch, --table in a training benchmark's argument parser

    net = pruned_model("yolov8s.yaml", nc=20, rate=0.45, variant=WidthVariant.parse("16y"), imgsz=160)
    onnx_path = to_onnx(net, folder, "v8s_045", imgsz=160)
    sparse_pt = sparse_checkpoint("base.pt", "data.yaml", settings, folder)  # slimming's sparse phase, trained
    net = slimmed(sparse_pt, rate=0.5, imgsz=160)  # what slimming at 0.5 makes of it, untrained
    save_table("accuracy", lines)  # results/accuracy.md
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch.nn as nn

import yolo_prune  # noqa: F401  (offline settings before Ultralytics)
from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.evaluation import count_macs_params, layer_widths
from yolo_prune.export import export_onnx
from yolo_prune.methods import SlimmingMethod, make_method
from yolo_prune.pipeline import Run
from yolo_prune.settings import resolve_settings
from yolo_prune.structure import ModelAdapter


@dataclass(frozen=True)
class WidthVariant:
    """A ``round_to`` and whether widths follow the yaml rules: "8" is round_to 8 with free widths, "8y" with yaml
    widths (yolo-prune's default)."""

    round_to: int
    yaml_widths: bool

    @classmethod
    def parse(cls, text: str) -> WidthVariant:
        return cls(int(text.rstrip("y")), text.endswith("y"))

    def __str__(self) -> str:
        return f"{self.round_to}{'y' if self.yaml_widths else ''}"

    @property
    def label(self) -> str:
        return f"round_to {self.round_to}, {'yaml' if self.yaml_widths else 'free'} widths"


def pruned_model(model: str, nc: int, rate: float, variant: WidthVariant, imgsz: int, steps: int = 1) -> nn.Module:
    """``model`` (an Ultralytics yaml) pruned by DepGraph to ``rate`` in ``steps`` steps, without training."""
    net = load_detector(model, nc=nc)
    if rate > 0:
        settings = resolve_settings(overrides={"target_prune_rate": rate, "round_to": variant.round_to,
                                               "yaml_widths": variant.yaml_widths})  # fmt: skip
        method, base = make_method(settings, ModelAdapter.of(net, "model")), layer_widths(net)
        for k in range(1, steps + 1):
            method.prune(net, k, steps, base, imgsz)
    return net


def sparse_checkpoint(base: str | Path, data: str, settings: dict[str, Any], folder: Path) -> Path:
    """``base`` after slimming's sparse phase (``settings``: a slim run's resolved settings), written to
    ``folder``/sparse.pt, with the phase's own files (``sparse/``, ``sparsity.csv``, ...) beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    model = load_detector(base)
    adapter = ModelAdapter.of(model, base)
    method = SlimmingMethod(settings, adapter)
    model = method.prepare(model, Run(folder, settings, data, adapter, method))
    return save_checkpoint(folder / "sparse.pt", model, {"imgsz": settings["imgsz"]})


def slimmed(sparse_pt: Path, rate: float, imgsz: int) -> nn.Module:
    """What slimming at ``rate`` makes of a sparse checkpoint (its widths follow the trained |gamma|), untrained."""
    net = load_detector(sparse_pt)
    settings = resolve_settings(overrides={"method": "slim", "sparse_epochs": 0, "target_prune_rate": rate})
    SlimmingMethod(settings, ModelAdapter.of(net, sparse_pt)).prune(net, 1, 1, layer_widths(net), imgsz)
    return net


def macs(net: nn.Module, imgsz: int) -> int:
    return count_macs_params(net, imgsz)[0]


def to_onnx(net: nn.Module, folder: Path, name: str, imgsz: int) -> Path:
    """Export ``net`` through a checkpoint, as yolo-prune exports a run's models."""
    return export_onnx(save_checkpoint(Path(folder) / f"{name}.pt", net, {"imgsz": imgsz}), imgsz)


def cores() -> int:
    return len(os.sched_getaffinity(0))


RESULTS = Path(__file__).parent / "results"


def training_options(ap: argparse.ArgumentParser, table: bool = True) -> None:
    """The options every training benchmark takes: image size and batch of its training (128 px and 16, the demo's),
    and ``--table``, which rebuilds the Markdown table from the results already saved."""
    ap.add_argument("--imgsz", type=int, default=128, help="training and timing image size")
    ap.add_argument("--batch", type=int, default=16, help="training batch size")
    if table:
        ap.add_argument("--table", action="store_true", help="only rebuild the table from the saved results")


def save_table(name: str, lines: list[str]) -> str:
    """A benchmark's Markdown table, kept as results/<name>.md (its raw results stay in results/<name>/)."""
    text = "\n".join(lines)
    (RESULTS / f"{name}.md").write_text(text + "\n")
    return text


def write_results(name: str, table: str, raw: Any) -> None:
    """Print a benchmark's Markdown table and keep it, with the raw numbers, as results/<name>.md and .json."""
    print(table, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    save_table(name, table.splitlines())
    (RESULTS / f"{name}.json").write_text(json.dumps(raw, indent=2) + "\n")
