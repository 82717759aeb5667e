"""Convert a Pascal VOC folder (JPEGImages/ + Annotations/) into Ultralytics' YOLO layout with a train/val split.

The source folder is only read: images are copied, so it stays byte-identical. Every annotation is parsed and checked
before anything is written, so a bad file stops the conversion without leaving a half-written output folder.

Usage:
    from yolo_prune.tools.voc import voc_to_yolo

    summary = voc_to_yolo("VOCdevkit/VOC2012", "datasets/voc-yolo", train_ratio=0.8, seed=0)
    print(summary)  # counts per class, clipped and skipped boxes, split sizes
    summary.data_yaml  # -> datasets/voc-yolo/data.yaml, ready for YOLO(...).train(data=...) or yolo-prune --data

CLI:
    python scripts/voc_split.py --src VOCdevkit/VOC2012 --dst datasets/voc-yolo --train-ratio 0.8 --seed 0
"""

from __future__ import annotations

import random
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from PIL import Image, UnidentifiedImageError

from yolo_prune.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")  # formats Ultralytics can train on


@dataclass
class SplitSummary:
    """What a conversion wrote and what it had to change or leave out, so that nothing is lost silently."""

    images: int
    train: int
    val: int
    names: list[str]
    boxes_per_class: dict[str, int]
    empty_images: int
    clipped_boxes: int
    zero_area_boxes: int
    skipped_unknown: int
    dropped_difficult: int
    data_yaml: Path
    unknown_names: list[str] = field(default_factory=list)

    def format(self) -> str:
        """A short human-readable report for the command line."""
        width = max(len(n) for n in self.names)
        lines = [
            f"{self.images} images: {self.train} train, {self.val} val ({self.empty_images} without objects)",
            f"{sum(self.boxes_per_class.values())} boxes in {len(self.names)} classes:",
            *(f"  {i:>3} {n:<{width}} {self.boxes_per_class[n]}" for i, n in enumerate(self.names)),
            f"clipped to the image: {self.clipped_boxes} boxes",
            f"dropped, no area left inside the image: {self.zero_area_boxes} boxes",
            f"dropped as difficult: {self.dropped_difficult} boxes",
            f"skipped, class not in the list: {self.skipped_unknown} boxes"
            + (f" ({', '.join(self.unknown_names)})" if self.unknown_names else ""),
            f"data yaml: {self.data_yaml}",
        ]
        return "\n".join(lines)

    __str__ = format


@dataclass
class _VocObject:
    name: str
    difficult: bool
    box: tuple[float, float, float, float]  # left, top, right, bottom in pixel-edge coordinates


@dataclass
class _VocImage:
    xml: Path
    image: Path
    width: int
    height: int
    objects: list[_VocObject]


def voc_to_yolo(
    src: str | Path,
    dst: str | Path,
    train_ratio: float = 0.8,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    drop_difficult: bool = False,
) -> SplitSummary:
    """Write ``dst/images/{train,val}``, ``dst/labels/{train,val}`` and ``dst/data.yaml`` from the VOC folder ``src``.

    Class ids follow ``classes`` when given (objects of other classes are skipped and counted), else the sorted names
    found in the annotations. Boxes are clipped to the image; the split is a seeded shuffle of the annotations.
    """
    src, dst = Path(src), Path(dst)
    if not 0 < train_ratio < 1:
        raise UserError(f"train ratio must be between 0 and 1 (exclusive), got {train_ratio}")
    ann_dir, img_dir = src / "Annotations", src / "JPEGImages"
    if not ann_dir.is_dir() or not img_dir.is_dir():
        raise UserError(f"{src} is not a Pascal VOC folder: it needs both Annotations/ and JPEGImages/")
    _check_destination(src, dst)
    names = _check_classes(classes) if classes is not None else None

    entries = [_read_annotation(xml, img_dir) for xml in sorted(ann_dir.glob("*.xml"))]
    if len(entries) < 2:
        raise UserError(f"{ann_dir} holds {len(entries)} annotation files; a train and a val split need at least 2")
    if names is None:
        names = sorted({o.name for e in entries for o in e.objects})
        if not names:
            raise UserError(f"no object in {ann_dir} has a class name; nothing to train on")

    order = list(range(len(entries)))
    random.Random(seed).shuffle(order)
    n_train = min(max(round(len(entries) * train_ratio), 1), len(entries) - 1)
    splits = {i: "train" if rank < n_train else "val" for rank, i in enumerate(order)}

    index = {n: i for i, n in enumerate(names)}
    counts = dict.fromkeys(names, 0)
    tally = {"clipped": 0, "zero_area": 0, "unknown": 0, "difficult": 0, "empty": 0}
    unknown_names: set[str] = set()
    for split in ("train", "val"):
        (dst / "images" / split).mkdir(parents=True)
        (dst / "labels" / split).mkdir(parents=True)
    for i, entry in enumerate(entries):
        lines = []
        for obj in entry.objects:
            if obj.name not in index:
                tally["unknown"] += 1
                unknown_names.add(obj.name)
                continue
            if obj.difficult and drop_difficult:
                tally["difficult"] += 1
                continue
            line, clipped = _yolo_line(index[obj.name], obj.box, entry.width, entry.height)
            if line is None:
                tally["zero_area"] += 1
                continue
            tally["clipped"] += clipped
            counts[obj.name] += 1
            lines.append(line)
        tally["empty"] += not lines
        stem = entry.xml.stem  # unique within Annotations/, unlike <filename>
        shutil.copyfile(entry.image, dst / "images" / splits[i] / f"{stem}{entry.image.suffix.lower()}")
        (dst / "labels" / splits[i] / f"{stem}.txt").write_text("".join(f"{line}\n" for line in lines))

    data_yaml = dst / "data.yaml"
    data = {
        "path": str(dst.resolve()),
        "train": "images/train",
        "val": "images/val",
        "nc": len(names),
        "names": dict(enumerate(names)),
    }
    data_yaml.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return SplitSummary(
        images=len(entries),
        train=n_train,
        val=len(entries) - n_train,
        names=names,
        boxes_per_class=counts,
        empty_images=tally["empty"],
        clipped_boxes=tally["clipped"],
        zero_area_boxes=tally["zero_area"],
        skipped_unknown=tally["unknown"],
        dropped_difficult=tally["difficult"],
        data_yaml=data_yaml,
        unknown_names=sorted(unknown_names),
    )


def _check_destination(src: Path, dst: Path) -> None:
    """Never overwrite anything, and never write into the source, which must stay byte-identical."""
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise UserError(f"destination {dst} already exists and is not empty; choose a new folder")
    if dst.resolve().is_relative_to(src.resolve()):
        raise UserError(f"destination {dst} is inside the source {src}; choose a folder outside it")


def _check_classes(classes: Sequence[str]) -> list[str]:
    """Class names as given, in order, because their order defines the class ids."""
    names = [c.strip() for c in classes]
    if not names or any(not n for n in names) or len(set(names)) != len(names):
        raise UserError(f"classes must be distinct, non-empty names; got {list(classes)}")
    return names


def _read_annotation(xml: Path, img_dir: Path) -> _VocImage:
    """Parse one VOC XML; any problem is the user's to fix, so the message names the file."""
    try:
        root = ET.parse(xml).getroot()
    except ET.ParseError as e:
        raise UserError(f"{xml}: malformed XML ({e})") from None
    if root.tag != "annotation":
        raise UserError(f"{xml}: not a VOC annotation (root element is <{root.tag}>, expected <annotation>)")
    image = _find_image(xml, root.findtext("filename", "").strip(), img_dir)
    width, height = _image_size(xml, root, image)
    objects = []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if not name:
            raise UserError(f"{xml}: an <object> has no <name>")
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise UserError(f"{xml}: object '{name}' has no <bndbox>")
        box = tuple(_number(xml, bndbox, tag) for tag in ("xmin", "ymin", "xmax", "ymax"))
        difficult = _number(xml, obj, "difficult", default=0.0) != 0
        objects.append(_VocObject(name, difficult, (box[0] - 1, box[1] - 1, box[2], box[3])))
    return _VocImage(xml, image, width, height, objects)


def _find_image(xml: Path, filename: str, img_dir: Path) -> Path:
    """The image named by <filename>, else the one named like the XML: VOC exports disagree on which is reliable."""
    suffixes = IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES)
    stems = [Path(filename).stem, xml.stem] if filename else [xml.stem]
    candidates = [img_dir / Path(filename).name] if filename else []
    candidates += [img_dir / f"{stem}{s}" for stem in stems for s in suffixes]
    for path in candidates:
        if path.is_file():
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise UserError(f"{xml}: image {path.name} is not a format Ultralytics trains on")
            return path
    raise UserError(f"{xml}: image not found in {img_dir} (looked for {filename or xml.stem + '.jpg'})")


def _image_size(xml: Path, root: ET.Element, image: Path) -> tuple[int, int]:
    """Width and height from <size>, or from the image itself when <size> is missing or zero."""
    size = root.find("size")
    if size is not None:
        width, height = _number(xml, size, "width", 0.0), _number(xml, size, "height", 0.0)
        if width > 0 and height > 0:
            return int(width), int(height)
    try:
        with Image.open(image) as im:
            return im.size
    except (OSError, UnidentifiedImageError) as e:
        raise UserError(f"{xml}: <size> is missing and image {image} cannot be read ({e})") from None


def _number(xml: Path, parent: ET.Element, tag: str, default: float | None = None) -> float:
    """A numeric child element; VOC tools write both integers and floats."""
    text = parent.findtext(tag)
    if text is None or not text.strip():
        if default is None:
            raise UserError(f"{xml}: <{parent.tag}> has no <{tag}>")
        return default
    try:
        return float(text)
    except ValueError:
        raise UserError(f"{xml}: <{tag}> is '{text.strip()}', not a number") from None


def _yolo_line(cls: int, box: tuple[float, ...], width: int, height: int) -> tuple[str | None, bool]:
    """The YOLO label line for a box clipped to the image (None when nothing is left), and whether it was clipped."""
    limits = (width, height, width, height)
    clipped_box = tuple(min(max(v, 0.0), limit) for v, limit in zip(box, limits))
    clipped = clipped_box != box
    left, top, right, bottom = clipped_box
    if right <= left or bottom <= top:
        return None, clipped
    cx, cy = (left + right) / 2 / width, (top + bottom) / 2 / height
    w, h = (right - left) / width, (bottom - top) / height
    return f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}", clipped
