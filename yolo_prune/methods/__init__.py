"""Pruning methods: thin strategies that plug into the one pruning loop in ``yolo_prune.pipeline``.

Usage:
    from yolo_prune.methods import make_method

    # DepGraph (default), slimming, latency-targeted, width search or fine-tuning only, by settings["method"], for
    # the models of the run's ModelAdapter
    method = make_method(settings, adapter)
"""

from __future__ import annotations

from typing import Any

from yolo_prune.methods.base import PruningMethod
from yolo_prune.methods.depgraph import DepGraphMethod
from yolo_prune.methods.finetune import FinetuneMethod
from yolo_prune.methods.latency import LatencyMethod
from yolo_prune.methods.search import SearchMethod
from yolo_prune.methods.slimming import SlimmingMethod
from yolo_prune.settings import METHODS as METHOD_NAMES
from yolo_prune.structure import ModelAdapter

METHODS: dict[str, type[PruningMethod]] = {
    cls.name: cls for cls in (DepGraphMethod, SlimmingMethod, LatencyMethod, SearchMethod, FinetuneMethod)
}  # fmt: skip
if tuple(METHODS) != METHOD_NAMES:  # the names a user may give, declared where the CLI reads them cheaply
    raise ImportError(f"yolo_prune.settings.METHODS {METHOD_NAMES} must name the methods {tuple(METHODS)}")


def make_method(settings: dict[str, Any], adapter: ModelAdapter) -> PruningMethod:
    return METHODS[settings["method"]](settings, adapter)


__all__ = [
    "METHODS", "DepGraphMethod", "FinetuneMethod", "LatencyMethod", "PruningMethod", "SearchMethod", "SlimmingMethod",
    "make_method",
]  # fmt: skip
