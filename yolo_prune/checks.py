"""Input checks that run before any work: a bad model, data set, device or output folder fails in seconds with a
one-line message, and nothing is written. Also the read-only view through which a run reads the user's data set, and
the record of its inputs that a resumed run is checked against.

Usage:
    from yolo_prune.checks import (adopt_data_names, check_data, check_device, check_freeze, check_inputs,
                                   check_labels, check_model, check_runtime, check_output, check_train_args, data_view,
                                   record_inputs)

    model, adapter, info = check_model("best.pt", "data.yaml")  # the model, its adapter and the data set's info
    info = check_data("data.yaml", adapter.task)  # Ultralytics' own parse of the data yaml: nc, names, paths
    warnings = check_labels(info, adapter.task)  # Ultralytics' label scan: UserError for a split without boxes
    check_device("0")  # UserError naming the devices there are
    check_train_args(settings)  # Ultralytics' checks of the fine-tuning settings, e.g. lr0: abc, optimizer: FOO
    check_runtime(settings)  # the export packages and the latency provider, needed only at the end of a run
    check_output("runs/prune")  # UserError when no run directory can be created there
    check_freeze(settings, model)  # freeze: 100 on a model of 23 layers
    notices = adopt_data_names(model, info, "best.pt")  # the data set's names; a line when the model had others
    view_yaml = data_view(info, run_dir / "dataset")  # what Ultralytics reads, so it writes nothing beside the data
    write_json(run_dir / "inputs.json", record_inputs(info, "best.pt", teacher=None))  # the data set's fingerprint
    check_inputs(run_dir / "inputs.json", info, teacher=None)  # on resume: UserError saying what changed since

CLI:
    yolo-prune --model best.pt --data missing.yaml   # error: data yaml not found: missing.yaml (exit 2)
    yolo-prune --model best.pt --data data.yaml --latency-provider cuda   # error at once without onnxruntime-gpu
"""

from __future__ import annotations

import codecs
import glob
import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch.nn as nn
import yaml

from yolo_prune.checkpoint import load_detector, yaml_task
from yolo_prune.errors import UserError
from yolo_prune.rundir import read_json, write_yaml
from yolo_prune.structure import ModelAdapter, Task, require_task


def check_data(data: str, task: Task) -> dict[str, Any]:
    """Parse a data yaml as ``task`` reads it and check that its train and val folders hold images and labels (a
    classification data set: its class folders, ``check_folders``)."""
    if task.folder_data:
        return task.check_folders(data)
    path = Path(data)
    if path.is_dir():
        raise UserError(f"data {data} is a folder; {task.label} models read a data set .yaml (a folder of class "
                        "folders is for classification models)")  # fmt: skip
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise UserError(f"data must be a data set .yaml, got {data}")
    if not path.is_file():
        raise UserError(f"data yaml not found: {data}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"data yaml {data} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise UserError(f"data yaml {data} must be a mapping with train, val and names")
    missing = [k for k in ("train", "val") if not raw.get(k)]
    if missing or not (raw.get("names") or raw.get("nc")):
        raise UserError(f"data yaml {data} lacks {', '.join(missing + ([] if raw.get('names') else ['names']))}")
    try:
        info = task.check_dataset(path)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"data yaml {data} is not usable: {first}") from None
    labels = 0
    for split in ("train", "val"):
        images = _images(info[split], split, data)
        labels += sum(1 for im in images if _label_of(im).is_file())
    if labels == 0:
        raise UserError(f"data set {data} has no label files (expected labels/ beside images/)")
    return info


def _images(source: Any, split: str, data: str) -> list[Path]:
    """The image files of a split as Ultralytics lists them: folders searched recursively (hidden files skipped),
    ``.txt`` lists read line by line, with ``./x.jpg`` relative to the list. A single image file is a split of one
    image (Ultralytics itself would read it as a list; the run's ``data_view`` hands it a folder instead)."""
    from ultralytics.data.utils import IMG_FORMATS

    sources = source if isinstance(source, list) else [source]
    images: list[Path] = []
    for s in map(Path, sources):
        if s.is_dir():
            found = map(Path, glob.glob(str(Path(glob.escape(str(s))) / "**" / "*.*"), recursive=True))
        elif s.is_file() and s.suffix[1:].lower() in IMG_FORMATS:
            found = iter([s])
        elif s.is_file():
            lines = [x.strip() for x in read_list(s, f"the {split} image list of {data}").splitlines() if x.strip()]
            found = (s.parent / x[2:] if x.startswith("./") else Path(x) for x in lines)
        else:
            raise UserError(f"{split} images of {data} not found: {s}")
        images += [p for p in found if p.suffix[1:].lower() in IMG_FORMATS]
    if not images:
        raise UserError(f"{split} split of {data} has no images")
    return sorted(images)


def read_list(path: Path, what: str) -> str:
    """A text file of paths, as UTF-8 (with or without a byte-order mark, as Ultralytics reads it) or as UTF-16 with
    its byte-order mark; anything else (Latin-1, a binary file) is refused in one line rather than guessed at, since
    a wrongly decoded path names no file."""
    raw = path.read_bytes()
    encoding = "utf-16" if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        problem = f"byte 0x{raw[e.start]:02x} at offset {e.start}"
    else:
        if "\0" not in text:
            return text
        problem = "NUL characters: UTF-16 without a byte-order mark?"
    raise UserError(f"{what}, {path}, is not text in UTF-8 or UTF-16 with a byte-order mark ({problem}); save it "
                    "as UTF-8")


def _label_of(image: Path) -> Path:
    """Ultralytics' rule: the last 'images' folder in the path becomes 'labels', suffix .txt."""
    parts = list(image.parts)
    idx = max(i for i, p in enumerate(parts) if p == "images") if "images" in parts else None
    if idx is None:
        return image.with_suffix(".txt")
    parts[idx] = "labels"
    return Path(*parts).with_suffix(".txt")


def check_device(device: str | int | None) -> None:
    """Refuse a device that does not exist, naming those that do (any case: ``CPU``, ``cuda:0``)."""
    wanted = str(device).lower().replace("cuda:", "").replace(" ", "") if device is not None else ""
    if wanted in ("", "cpu"):
        return
    import torch

    if wanted in ("mps",):
        if not torch.backends.mps.is_available():
            raise UserError("device mps is not available on this machine; use --device cpu")
        return
    n = torch.cuda.device_count()
    available = ", ".join(["cpu"] + [str(i) for i in range(n)])
    for d in wanted.split(","):
        if not d.isdigit() or int(d) >= n:
            raise UserError(f"device {device!r} does not exist; available: {available}")


def check_train_args(settings: dict[str, Any]) -> None:
    """Ultralytics' own type and range checks of the fine-tuning settings (lr0, momentum, ...), so that a bad value
    in a --cfg file fails now rather than at the first fine-tuning step. Numeric text (PyYAML reads ``1.0e9`` as
    text) becomes the number, in ``settings`` too; the keys Ultralytics' ``check_cfg`` leaves alone are checked
    against what training does with them."""
    from ultralytics.cfg import CFG_FLOAT_KEYS, CFG_FRACTION_KEYS, CFG_INT_KEYS, get_cfg
    from ultralytics.utils import DEFAULT_CFG_DICT

    from yolo_prune.settings import training_overrides

    for key, value in training_overrides(settings).items():
        if key in CFG_FLOAT_KEYS | CFG_FRACTION_KEYS | CFG_INT_KEYS | {"scale"} and isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                continue  # Ultralytics' check names the key and the types it takes
            settings[key] = int(number) if key in CFG_INT_KEYS and number.is_integer() else number
        elif key == "cache" and value not in (True, False, "ram", "disk"):
            raise UserError(f"cache must be true, false, ram or disk, got {value!r}")
        elif key == "classes" and not all(type(c) is int and c >= 0 for c in (value if isinstance(value, list)
                                                                                  else [value])):  # fmt: skip
            raise UserError(f"classes must be a class id or a list of class ids, got {value!r}")
        elif isinstance(DEFAULT_CFG_DICT.get(key), str) and not isinstance(value, str):
            raise UserError(f"{key} must be text, got {value!r}")
    args = {**training_overrides(settings), "epochs": max(settings["epochs"], 1)}  # 0 skips training: never passed
    try:
        get_cfg(overrides=args)
    except (TypeError, ValueError, SyntaxError) as e:
        raise UserError(f"invalid setting: {str(e).strip().splitlines()[0]}") from None
    optimizer = settings.get("optimizer", "auto")
    names = _optimizers()
    if str(optimizer).lower() not in {n.lower() for n in names}:
        raise UserError(f"optimizer must be one of {', '.join(names)} (any case), got {optimizer!r}")


def check_freeze(settings: dict[str, Any], model: nn.Module) -> None:
    """``freeze`` (leading layers, or layer indices) against the model's layers: Ultralytics ignores an index that
    does not exist, and freezing every layer stops fine-tuning with a RuntimeError, after the base was measured."""
    freeze = settings.get("freeze")
    if freeze is None:
        return
    n = len(model.model)
    if isinstance(freeze, int) and freeze >= n:
        raise UserError(f"freeze {freeze} would freeze every layer of the model: it has {n}, so freeze must be at "
                        f"most {n - 1} (the first N layers) or a list of layer indices 0-{n - 1}")  # fmt: skip
    if isinstance(freeze, list):
        modules = dict(model.named_modules())
        bad = [x for x in freeze if (isinstance(x, int) and x >= n) or (isinstance(x, str) and f"model.{x}" not in
                                                                           modules)]  # fmt: skip
        if bad:
            raise UserError(f"freeze names layers the model does not have: {', '.join(map(str, bad))} (its layers "
                            f"are 0-{n - 1}; a name such as 23.cv2 must be a module of layer 23)")  # fmt: skip
        if all(isinstance(x, int) for x in freeze) and set(range(n)) <= set(freeze):
            raise UserError(f"freeze {freeze} would freeze every layer of the model (0-{n - 1}); leave one out")


def _optimizers() -> list[str]:
    """The optimizer names Ultralytics' ``BaseTrainer.build_optimizer`` accepts (case-insensitive). It raises
    NotImplementedError for others only when fine-tuning starts, after the base model has been measured; the list
    is local to that method, so it is repeated here: MuSGD exists from Ultralytics 8.4 on (``ultralytics.optim``)."""
    import importlib.util

    names = ["auto", "SGD", "Adam", "Adamax", "AdamW", "NAdam", "RAdam", "RMSProp"]
    if importlib.util.find_spec("ultralytics.optim") is not None:
        names.append("MuSGD")
    return names


def check_runtime(settings: dict[str, Any]) -> None:
    """What the end of a run needs, checked at its start: the ONNX export packages and the latency provider's
    runtime (with what INT8 export needs for it under ``--int8``), refused with the extra to install."""
    from yolo_prune.export import require_export_packages
    from yolo_prune.runtimes import get_runtime

    require_export_packages()
    get_runtime(settings["latency_provider"]).require(int8=bool(settings.get("int8")))


def check_labels(info: dict[str, Any], task: Task, single_cls: bool = False) -> list[str]:
    """Scan both splits the way Ultralytics will (its own ``YOLODataset`` and label checks) and return one warning
    line per split for the images and boxes it will drop; refuse a split without a single usable box.

    Ultralytics drops corrupt images and label files (a class id out of range, unnormalised coordinates, ...) and
    logs that at INFO level only, so a run could go on with part of the data, or with no val labels at all and
    every mAP 0.000, which no ``--max-map-drop`` would ever stop. The scan reads a throwaway view of the data set
    (see ``data_view``) because Ultralytics also writes there: label caches and "restored" JPEGs.
    """
    import tempfile

    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import load_dataset_cache_file
    from ultralytics.utils import LOGGER

    if task.folder_data:  # an image's class is its folder: ``check_data`` has seen each class hold images
        return []
    warnings = []
    level = LOGGER.level
    with tempfile.TemporaryDirectory(prefix="yolo-prune-scan-") as tmp:
        view_info = task.check_dataset(data_view(info, Path(tmp) / "dataset"))
        LOGGER.setLevel(logging.ERROR)  # its progress bars and per-file lines: the lines returned say it all
        try:
            for split in ("train", "val"):
                listed = sum(len(_images(Path(s), split, str(s))) for s in _as_list(view_info[split]))
                try:
                    dataset = YOLODataset(img_path=view_info[split], data=view_info, task=task.name, augment=False,
                                          single_cls=single_cls)  # fmt: skip
                except (RuntimeError, ValueError, FileNotFoundError) as e:  # "No valid images found in <cache>"
                    # "No valid images" lists each file's problem on the lines after the first (8.4; 8.3 does not);
                    # a one-line error (labels of another task: boxes for a segmentation model) is the problem.
                    lines = [x.strip() for x in str(e).splitlines() if x.strip() and "://" not in x]
                    issues = lines[1:] if len(lines) > 1 else lines
                    reason = (f": {_user_paths(issues[0])}" if issues else " (class ids beyond its names, coordinates "
                              "outside 0-1 or unreadable images)")  # fmt: skip
                    raise UserError(f"the {split} split of {info['yaml_file']} has no image Ultralytics can "
                                    f"use{reason}; {task.label} models read label lines '{task.label_line}'"
                                    ) from None  # fmt: skip
                boxes = sum(len(label["cls"]) for label in dataset.labels)
                if boxes == 0:
                    raise UserError(
                        f"the {split} split of {info['yaml_file']} has no labelled objects ({listed} images, no box "
                        "that Ultralytics can use): " + ("every mAP would be 0 and --max-map-drop could never stop a "
                        "run" if split == "val" else "there is nothing to fine-tune on") + "; add YOLO label files "
                        "(labels/ beside images/)"
                    )  # fmt: skip
                cache = load_dataset_cache_file(Path(dataset.label_files[0]).parent.with_suffix(".cache"))
                dropped = [m for m in cache["msgs"] if "ignoring corrupt" in m]
                duplicates = [m for m in cache["msgs"] if "duplicate labels removed" in m]
                if dropped:
                    warnings.append(
                        f"warning: Ultralytics drops {len(dropped)} of {listed} {split} images (corrupt image or "
                        f"label), e.g. {_user_paths(dropped[0])}"
                    )
                if duplicates:
                    warnings.append(f"warning: Ultralytics removes duplicate boxes in {len(duplicates)} {split} "
                                    f"images, e.g. {_user_paths(duplicates[0])}")  # fmt: skip
        finally:
            LOGGER.setLevel(level)
    return warnings


def _as_list(source: Any) -> list:
    return source if isinstance(source, list) else [source]


def _user_paths(message: str) -> str:
    """Ultralytics' message about a file in a throwaway view, with the view's links replaced by the user's files."""
    words = []
    for word in message.split(" "):
        path = word.rstrip(":,")
        if os.path.islink(path):
            word = word.replace(path, os.readlink(path))
        words.append(word)
    return " ".join(words)


def check_output(project: str | Path) -> None:
    """Refuse an output folder where no run directory can be created, before any work and without creating it."""
    target = Path(project).absolute()
    existing = next(p for p in (target, *target.parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"cannot write the run directory under {project}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"cannot write the run directory under {project}: {existing} is not writable")


def check_model(source: str | Path, data: str) -> tuple[nn.Module, ModelAdapter, dict[str, Any]]:
    """Load the user's model (only reading the file) and its data set as the model's task reads it (``check_data``),
    and refuse a model yolo-prune cannot prune for this data set: another task (the one task gate,
    ``ModelAdapter.of``), layers it does not know, or another class count. A model yaml is built for the data set's
    class count. Returns the model, its adapter and the data set's info."""
    if Path(source).suffix.lower() in (".yaml", ".yml"):
        info = check_data(data, yaml_task(source))
        model = load_detector(source, nc=info["nc"], data=info)
    else:
        model = load_detector(source)
        info = check_data(data, require_task(model, source))
    adapter = ModelAdapter.of(model, source)
    nc = info["nc"]
    if adapter.classes(model) != nc:
        raise UserError(
            f"{source} predicts {adapter.classes(model)} classes but {info.get('yaml_file', 'the data set')} has {nc}; "
            "prune a model trained on this data set"
        )
    mismatch = adapter.task.data_mismatch(model, info)  # what else the head's outputs take from the data set
    if mismatch:
        raise UserError(f"{source} {mismatch}; prune a model trained on this data set")
    return model, adapter, info


def adopt_data_names(model: nn.Module, info: dict[str, Any], source: str | Path) -> list[str]:
    """Give ``model`` the data set's class names, as Ultralytics' fine-tuning does (class by class id, never
    reordered), so that every checkpoint of the run carries the same names; and a notice line when the model had
    other names (not a refusal: renaming classes in the data yaml is common). A model built from a yaml has only
    numbers for names: no notice."""
    theirs, ours = _name_list(getattr(model, "names", None) or {}), _name_list(info["names"])
    model.names = dict(enumerate(ours))
    if theirs == ours or theirs == [str(i) for i in range(len(theirs))]:
        return []
    renamed = [f"{i}: {a!r} -> {b!r}" for i, (a, b) in enumerate(zip(theirs, ours)) if a != b]
    return [f"note: {source} names its classes otherwise than {info.get('yaml_file', 'the data set')} "
            f"({', '.join(renamed[:3])}{', ...' if len(renamed) > 3 else ''}); the pruned model predicts the same "
            "class ids under the data set's names"]  # fmt: skip


def _name_list(names: Any) -> list[str]:
    """Class names as Ultralytics stores them (a dict by id, or a list) as a list in id order."""
    return [str(names[k]) for k in sorted(names)] if isinstance(names, dict) else [str(n) for n in names]


def data_view(info: dict[str, Any], dest: Path, folder_data: bool = False) -> Path:
    """Write a data yaml in ``dest`` whose images and labels are links to the user's files, and return its path.

    Ultralytics writes beside the files it reads: label caches (``labels/train.cache``), JPEGs it "restores" in
    place, and ``cache=disk`` arrays. Reading the data set through these links keeps all of that inside the run
    directory, so the user's data set stays byte-identical. Links are symbolic where the system allows, else hard
    (Ultralytics replaces, never rewrites, an image file), else copies. A classification data set's view is a folder
    (``dest``, with train/ and val/ of class folders), as Ultralytics reads one.
    """
    if dest.exists():
        shutil.rmtree(dest)  # a resumed run rebuilds its view: the user may have fixed the data set since
    if folder_data:
        for split in ("train", "val"):
            for image in _images(info[split], split, str(info[split])):
                _link(image, dest / split / image.relative_to(info[split]))
        return dest
    view: dict[str, Any] = {"path": str(dest.absolute()), "nc": info["nc"], "names": info["names"]}
    view.update({k: info[k] for k in ("channels", "kpt_shape", "flip_idx") if k in info})  # what tasks read
    for split in ("train", "val"):  # the splits a run reads
        sources = info[split] if isinstance(info[split], list) else [info[split]]
        for k, source in enumerate(map(Path, sources)):
            for image in _images(source, split, str(source)):
                rel = image.relative_to(source) if source.is_dir() else Path(*image.absolute().parts[1:])
                linked = dest / split / str(k) / "images" / rel
                _link(image, linked)
                if _label_of(image).is_file():
                    _link(_label_of(image), _label_of(linked))
        view[split] = [f"{split}/{k}/images" for k in range(len(sources))]
    path = dest / "data.yaml"
    write_yaml(path, view)
    return path


def _link(source: Path, link: Path) -> None:
    if os.path.lexists(link):
        return  # the same image listed twice
    link.parent.mkdir(parents=True, exist_ok=True)
    source = source.absolute()
    for make in (os.symlink, os.link, shutil.copy2):
        try:
            make(source, link)
            return
        except OSError:
            continue
    raise UserError(f"cannot link or copy {source} into the run directory {link.parent}")



def record_inputs(info: dict[str, Any], model: str | Path, teacher: str | Path | None) -> dict[str, Any]:
    """What a run reads from outside its directory, as ``check_inputs`` compares it on resume: the data set (see
    ``_data_fingerprint``) and the identity (path, size, sha256) of the model and teacher files."""
    return {"data": _data_fingerprint(info), "model": _file_identity(model),
            "teacher": _file_identity(teacher) if teacher else None}  # fmt: skip


def _data_fingerprint(info: dict[str, Any]) -> dict[str, Any]:
    """Class count, names, and per split a hash of its images' paths (relative to the folder that holds all the
    data set's images) and sizes and one of its label files' paths and contents: a class added, a label edited, an
    image added, removed or resized shows; the data set moved or copied elsewhere (new paths, new modification
    times) does not. Images are only listed and stat()ed, never read, so the cost is one stat per image and one read
    per label file (seconds for COCO's 120,000 images); an image replaced by another of exactly the same size goes
    unnoticed."""
    splits = {split: _images(info[split], split, str(info.get("yaml_file", ""))) for split in ("train", "val")}
    root = os.path.commonpath([str(p.absolute().parent) for images in splits.values() for p in images])
    data: dict[str, Any] = {"nc": info["nc"], "names": _name_list(info["names"]), "splits": {}}
    for split, images in splits.items():
        image_hash, label_hash, labels = hashlib.sha256(), hashlib.sha256(), 0
        for image in images:
            rel = os.path.relpath(image.absolute(), root)
            size = image.stat().st_size if image.is_file() else "missing"  # a .txt list may name a missing file
            image_hash.update(f"{rel}\0{size}\n".encode("utf-8", "surrogateescape"))
            label = _label_of(image)
            content = label.read_bytes() if label.is_file() else None
            labels += content is not None
            digest = "none" if content is None else hashlib.sha256(content).hexdigest()
            label_hash.update(f"{rel}\0{digest}\n".encode("utf-8", "surrogateescape"))
        data["splits"][split] = {"images": len(images), "labels": labels, "images_sha256": image_hash.hexdigest(),
                                 "labels_sha256": label_hash.hexdigest()}  # fmt: skip
    return data


def _file_identity(path: str | Path) -> dict[str, Any]:
    """Path, size and sha256 of a model file (a model yaml from Ultralytics' bundle is its name alone)."""
    path = Path(path)
    if not path.is_file():
        return {"path": str(path)}
    return {"path": str(path.absolute()), "bytes": path.stat().st_size,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}  # fmt: skip


def check_inputs(record: Path, info: dict[str, Any], teacher: str | Path | None) -> None:
    """Refuse, in one line that says what changed, a data set or teacher that is not the one ``record_inputs``
    recorded in ``record`` when the run started. A run from before that record is not checked. The model file is
    not compared: a resumed run never reads it again (it goes on from its own checkpoints)."""
    if not record.is_file():
        return
    recorded = read_json(record, " (what the run read from outside its folder)")
    try:
        then, was_teacher = recorded["data"], recorded["teacher"]
        then_splits = {split: then["splits"][split] for split in ("train", "val")}
        then_nc, then_names = then["nc"], then["names"]
    except (KeyError, TypeError):
        raise UserError(f"{record} is not a record of a run's inputs: it was edited or not written by "
                        "yolo-prune") from None
    now = _data_fingerprint(info)
    changes = []
    if now["nc"] != then_nc:
        changes.append(f"it now has {now['nc']} classes (run: {then_nc})")
    elif now["names"] != then_names:
        renamed = [f"{i}: {a!r} -> {b!r}" for i, (a, b) in enumerate(zip(then_names, now["names"])) if a != b]
        changes.append(f"its class names changed ({', '.join(renamed[:3])}{', ...' if len(renamed) > 3 else ''})")
    for split, was in then_splits.items():
        new = now["splits"][split]
        if new["images"] != was.get("images"):
            changes.append(f"its {split} split now has {new['images']} images (run: {was.get('images')})")
        elif new["images_sha256"] != was.get("images_sha256"):
            changes.append(f"its {split} images are other files or other sizes")
        if new["labels"] != was.get("labels"):
            changes.append(f"its {split} split now has {new['labels']} label files (run: {was.get('labels')})")
        elif new["labels_sha256"] != was.get("labels_sha256"):
            changes.append(f"its {split} labels changed")
    if changes:
        raise UserError(f"the data set {info.get('yaml_file', '')} is not the one the run started with: "
                        f"{'; '.join(changes)}; a run resumes only on its own data (start a new run for this one)")
    if teacher and isinstance(was_teacher, dict) and "sha256" in was_teacher:
        if not Path(teacher).is_file():
            raise UserError(f"the teacher of this run is gone: {teacher}")
        if _file_identity(teacher)["sha256"] != was_teacher["sha256"]:
            raise UserError(f"the teacher {teacher} changed since the run started (its sha256 differs); a run "
                            "resumes only with its own teacher")  # fmt: skip
