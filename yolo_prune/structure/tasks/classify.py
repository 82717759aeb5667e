"""Image classification (the ``Classify`` head of YOLOv8, YOLO11 and YOLO26 ``-cls`` models), judged by top-1
accuracy, with top-5 beside it, as ``yolo val task=classify`` reports them.

Kept: the whole head. Its conv's width (``c_ = 1280``) is hard-coded in ``Classify`` and no yaml row states it, so a
pruned width would be rebuilt at 1280 by stock training; its linear layer's output is the class count. Pruned: the
body before it (the head's conv reads fewer channels).

The data set is a folder as ``yolo train task=classify data=DIR`` reads it: ``train/`` and ``val/`` (or ``validation/``,
``valid/``, ``test/``), each with one folder of images per class, named alike. The exported ``output0`` is
(batch, nc) class probabilities.

Usage:
    from yolo_prune.structure.tasks import TASKS

    classify = TASKS["classify"]
    info = classify.check_folders("shapes-cls")  # train, val, nc, names; a UserError for a folder it cannot use
    classify.fixed_outputs(model, prune_head=True)  # [model.model[-1]]: the head

CLI:
    yolo-prune --model yolo11n-cls.pt --data shapes-cls --target-prune-rate 0.5
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch.nn as nn
from ultralytics.nn.modules import Classify

from yolo_prune.errors import UserError
from yolo_prune.structure.tasks import Task

SPLITS = {"train": ("train",), "val": ("val", "validation", "valid", "test")}  # as Ultralytics looks for them


class ClassifyTask(Task):
    name = "classify"
    label = "classification"
    heads = (Classify,)
    folder_data = True
    val_rect = False  # its validator resizes and centre-crops every image, rect or not
    metrics = {"top1": ("metrics/accuracy_top1", "top-1"), "top5": ("metrics/accuracy_top5", "top-5")}

    model_path = "ultralytics.nn.tasks:ClassificationModel"
    trainer_path = "ultralytics.models.yolo.classify:ClassificationTrainer"
    validator_path = "ultralytics.models.yolo.classify:ClassificationValidator"

    def check_dataset(self, path: str | Path) -> dict[str, Any]:
        """Ultralytics' parse of a class-folder data set; only for a folder that exists (``check_cls_dataset``
        downloads a name it does not find, and splits a folder without ``train/``), without its listing of each
        split (detection's data check lists nothing)."""
        from ultralytics.data.utils import check_cls_dataset
        from ultralytics.utils import LOGGER

        if not (Path(path) / "train").is_dir():
            raise UserError(f"data folder {path} has no train/ folder")
        level = LOGGER.level
        LOGGER.setLevel(logging.WARNING)
        try:
            return check_cls_dataset(str(path))
        finally:
            LOGGER.setLevel(level)

    def check_folders(self, data: str | Path) -> dict[str, Any]:
        """The data set's info (train, val, nc, names, and ``yaml_file``: the folder, for messages), after the checks
        Ultralytics does only as it trains: each split holds one folder of images per class, and val's classes are
        train's."""
        from ultralytics.data.utils import IMG_FORMATS

        path = Path(data)
        if path.suffix.lower() in (".yaml", ".yml"):
            raise UserError(f"data {data} is a data set .yaml; {self.label} models read a folder with train/ and val/ "
                            "holding one folder of images per class")  # fmt: skip
        if path.is_file():
            raise UserError(f"data {data} is a file; {self.label} models read a folder with train/ and val/ holding "
                            "one folder of images per class")  # fmt: skip
        if not path.is_dir():
            raise UserError(f"data folder not found: {data}")
        found = {}
        for split, names in SPLITS.items():
            folder = next((path / n for n in names if (path / n).is_dir()), None)
            if folder is None:
                raise UserError(f"data folder {data} has no {' or '.join(f'{n}/' for n in names)} split: a "
                                f"{self.label} data set has train/ and val/, each with one folder of images per class")
            classes = sorted(p for p in folder.iterdir() if p.is_dir())
            if not classes:
                raise UserError(f"{folder} has no class folders: a {self.label} data set puts each class's images "
                                f"in a folder named after the class ({folder}/cat/1.jpg)")  # fmt: skip
            empty = [c.name for c in classes if not any(f.suffix[1:].lower() in IMG_FORMATS for f in c.rglob("*.*"))]
            if empty:
                raise UserError(f"class folders of {folder} hold no images: {', '.join(empty[:5])}")
            found[split] = folder, [c.name for c in classes]
        (_, train), (val_folder, val) = found["train"], found["val"]
        if val != train:
            only = [f"{f.name}/ only: {', '.join(sorted(set(a) - set(b)))}" for f, a, b in
                    ((found["train"][0], train, val), (val_folder, val, train)) if set(a) - set(b)]  # fmt: skip
            raise UserError(f"the splits of {data} have other class folders ({'; '.join(only)}); train and val need "
                            "the same classes")  # fmt: skip
        try:
            info = self.check_dataset(path)
        except (FileNotFoundError, ValueError) as e:
            raise UserError(f"data folder {data} is not usable: {str(e).strip().splitlines()[0]}") from None
        info["val"] = found["val"][0].resolve()  # Ultralytics names test/ "test", and the run validates on it
        return {**info, "yaml_file": str(data)}

    def fixed_outputs(self, model: nn.Module, prune_head: bool) -> list[nn.Module]:
        """The head: its conv's width is fixed in ``Classify`` (no yaml states it), its linear's is the class count."""
        return [self.head(model)]

    def classes(self, model: nn.Module) -> int:
        return int(self.head(model).linear.out_features)
