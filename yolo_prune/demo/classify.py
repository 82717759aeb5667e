"""A small, deterministic classification data set: one filled shape per image, in class folders as
``yolo train task=classify data=DIR`` reads them.

The shapes are drawn by the detection demo's own code (``synthetic.render``), one per image, large enough to fill a
good part of it; the class is the shape. Classes take turns (image ``i`` shows shape ``i % n_classes``), and of each
class's images a share ``val_ratio`` goes to ``val/``, spread through them. The same arguments give byte-identical
files, and image ``i`` depends only on ``seed`` and ``i``.

Usage:
    from yolo_prune.demo.classify import generate_class_folders

    data = generate_class_folders("datasets/generated/shapes-cls", n_images=300, imgsz=64, n_classes=3, seed=0)
    # data/train/circle/000000.jpg, data/val/circle/000012.jpg, ...: yolo-prune --data data

CLI:
    python -m yolo_prune.demo.classify --out datasets/generated/shapes-cls --images 300 --imgsz 64 --n-classes 3
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from yolo_prune.demo.synthetic import check_options, render, run_generator, shape_arguments, shape_options
from yolo_prune.errors import UserError

SIZES = (0.35, 0.8)  # the shape's bounding square, as a share of the image side
QUALITY = 95  # JPEG quality, as the detection demo's


def generate_class_folders(out_dir: str | Path, n_images: int = 300, imgsz: int = 64, n_classes: int = 3,
                           seed: int = 0, val_ratio: float = 0.2) -> Path:  # fmt: skip
    """Write ``n_images`` JPEGs under ``out_dir``/train/<shape>/ and ``out_dir``/val/<shape>/ and return ``out_dir``,
    which must be new or empty (no stale file from another run is mixed in)."""
    names = check_options(n_images, imgsz, n_classes, None, 1, 1, *SIZES, QUALITY)
    if seed < 0:
        raise UserError(f"seed must be 0 or more, got {seed}")
    if not 0 < val_ratio < 1:
        raise UserError(f"val ratio must be between 0 and 1, got {val_ratio}")
    per_class = n_images // n_classes
    if not 1 <= math.floor(per_class * val_ratio) < per_class:
        raise UserError(f"{n_images} images leave a class without a train or val image at val ratio {val_ratio}; "
                        "use more images")  # fmt: skip
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"output folder {out} already exists and is not empty; choose a new folder")
    for split in ("train", "val"):
        for name in names:
            (out / split / name).mkdir(parents=True)
    for i in range(n_images):
        name = names[i % n_classes]
        image, _ = render(np.random.default_rng([seed, i]), imgsz, [name], min_objects=1, max_objects=1,
                          min_size=SIZES[0], max_size=SIZES[1])  # fmt: skip
        split = "val" if _is_val(i // n_classes, val_ratio) else "train"
        image.save(out / split / name / f"{i:06d}.jpg", format="JPEG", quality=QUALITY)
    return out


def _is_val(j: int, val_ratio: float) -> bool:
    """Whether a class's ``j``-th image goes to val: each time its running share of val images passes a whole one."""
    return math.floor((j + 1) * val_ratio) > math.floor(j * val_ratio)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for a user error)."""
    parser = argparse.ArgumentParser(prog="python -m yolo_prune.demo.classify",
                                     description="Generate a deterministic classification data set of filled shapes "
                                     "(train/<shape>/ and val/<shape>/).")  # fmt: skip
    shape_arguments(parser, images=300, imgsz=64, objects=False)
    parser.add_argument("--val-ratio", type=float, default=0.2, help="share of each class in val/ (default: 0.2)")
    args = parser.parse_args(argv)
    return run_generator(lambda: generate_class_folders(args.out, **shape_options(args), val_ratio=args.val_ratio),
                         f"wrote {args.images} images in class folders to {{out}}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
