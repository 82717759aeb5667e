"""Input checks that run before any work: a bad data set or device fails in a second with a one-line message.

Usage:
    from yolo_prune.checks import check_data, check_device

    info = check_data("data.yaml")  # Ultralytics' own parse of the data yaml: nc, names, resolved paths
    check_device("0")  # UserError naming the devices there are

CLI:
    yolo-prune --model best.pt --data missing.yaml   # error: data yaml not found: missing.yaml (exit 2)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from yolo_prune.errors import UserError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".dng", ".mpo", ".pfm", ".heic"}


def check_data(data: str) -> dict[str, Any]:
    """Parse a detection data yaml and check that its train and val folders hold images and labels."""
    path = Path(data)
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
    from ultralytics.data.utils import check_det_dataset

    try:
        info = check_det_dataset(str(path), autodownload=False)
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
    sources = source if isinstance(source, list) else [source]
    images: list[Path] = []
    for s in map(Path, sources):
        if s.is_dir():
            images += [p for p in s.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
        elif s.is_file() and s.suffix == ".txt":
            base = s.parent
            images += [(base / line.strip()).resolve() for line in s.read_text().splitlines() if line.strip()]
        else:
            raise UserError(f"{split} images of {data} not found: {s}")
    if not images:
        raise UserError(f"{split} split of {data} has no images")
    return images


def _label_of(image: Path) -> Path:
    """Ultralytics' rule: the last 'images' folder in the path becomes 'labels', suffix .txt."""
    parts = list(image.parts)
    idx = max(i for i, p in enumerate(parts) if p == "images") if "images" in parts else None
    if idx is None:
        return image.with_suffix(".txt")
    parts[idx] = "labels"
    return Path(*parts).with_suffix(".txt")


def check_device(device: str | int | None) -> None:
    """Refuse a device that does not exist, naming those that do."""
    if device in (None, "", "cpu"):
        return
    import torch

    wanted = str(device).replace("cuda:", "").replace(" ", "")
    if wanted in ("mps",):
        if not torch.backends.mps.is_available():
            raise UserError("device mps is not available on this machine; use --device cpu")
        return
    n = torch.cuda.device_count()
    available = ", ".join(["cpu"] + [str(i) for i in range(n)])
    for d in wanted.split(","):
        if not d.isdigit() or int(d) >= n:
            raise UserError(f"device {device!r} does not exist; available: {available}")
