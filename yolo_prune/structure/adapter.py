"""The model adapter: one model's structure as the loop, the methods, training, export and the report ask about it.

Built once per run from the model (``ModelAdapter.of``, the one task gate), it answers from the model's task and its
layers' parts, so that none of them reads the model's head or names a head type itself.

Usage:
    from yolo_prune.structure import ModelAdapter

    adapter = ModelAdapter.of(model, "best.pt")  # refuses a model yolo-prune cannot prune, in one line
    with adapter.prunable_form(model):  # C2f blocks split, attention wrapped; stock form again on exit
        ignored = adapter.fixed(model, prune_head=True)
    names = adapter.fixed_conv_names(model)  # convs whose width is the head's output
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch.nn as nn

from yolo_prune.errors import UserError
from yolo_prune.structure import parts
from yolo_prune.structure.parts import supported_families, unsupported_layers
from yolo_prune.structure.tasks import Task, require_task


@dataclass(frozen=True)
class ModelAdapter:
    """The structure of the models of one run: they share a task and layer types, whatever their widths."""

    task: Task

    @classmethod
    def of(cls, model: nn.Module, source: Any) -> ModelAdapter:
        """The adapter of ``model`` (read from ``source``, named in messages), or a UserError saying why yolo-prune
        cannot prune it: a head of another task, or body layers no part knows."""
        task = require_task(model, source)
        unknown = unsupported_layers(model)
        if unknown:
            raise UserError(f"{source} has layers yolo-prune cannot prune ({', '.join(unknown)}); it prunes "
                            f"{supported_families()} {task.label} models")  # fmt: skip
        return cls(task)

    @contextlib.contextmanager
    def prunable_form(self, model: nn.Module) -> Iterator[nn.Module]:
        """``model`` as Torch-Pruning can prune it for the duration of the block (every part's ``enter``), then in
        its stock form again, also on error (where a failed cut left blocks that cannot fold, the cut's own error is
        the one raised). The one prunable form: every graph, cut and copy is made in it."""
        parts.enter(model)
        try:
            yield model
        except BaseException:
            with contextlib.suppress(Exception):
                parts.leave(model)
            raise
        parts.leave(model)

    def fixed(self, model: nn.Module, prune_head: bool) -> list[nn.Module]:
        """What Torch-Pruning must leave whole in prunable-form ``model``: the head's fixed outputs (all of the head
        but the depthwise convs, with ``prune_head`` off) and what the parts keep (attention)."""
        return self.task.fixed_outputs(model, prune_head) + parts.fixed_modules(model)

    def fixed_conv_names(self, model: nn.Module) -> list[str]:
        """Names of the convs of stock-form ``model`` whose width is the head's output (class count, box encoding),
        which no rounding applies to."""
        names = {m: n for n, m in model.named_modules()}
        outputs = self.task.fixed_outputs(model, True)
        return [names[m] for layer in outputs for m in layer.modules() if isinstance(m, parts.CONVS)]

    def classes(self, model: nn.Module) -> int:
        return self.task.classes(model)

    @staticmethod
    def stock_name(name: str, model: nn.Module) -> str:
        """The stock name of module ``name`` of prunable-form ``model`` (the one renamer)."""
        return parts.stock_name(name, model)
