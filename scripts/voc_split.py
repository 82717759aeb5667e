"""Convert a Pascal VOC folder to Ultralytics' YOLO layout with a seeded train/val split, and print what it did.

A thin command line over ``yolo_prune.tools.voc.voc_to_yolo``; it runs from a checkout without installing yolo-prune.

Usage:
    from yolo_prune.tools.voc import voc_to_yolo

    print(voc_to_yolo("VOCdevkit/VOC2012", "datasets/voc-yolo", train_ratio=0.8, seed=0))

CLI:
    python scripts/voc_split.py --src VOCdevkit/VOC2012 [--dst datasets/VOC2012-yolo] [--train-ratio 0.8] [--seed 0]
        [--classes person,car,dog] [--drop-difficult]

Without ``--dst`` the output goes to ``datasets/<source folder name>-yolo`` under the current folder: the project's
``datasets/`` folder when run from the checkout's root (see datasets/README.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

try:
    import yolo_prune  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from yolo_prune.errors import UserError
from yolo_prune.tools.voc import voc_to_yolo


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, convert, print the summary; returns the exit status (2 for a user error)."""
    parser = argparse.ArgumentParser(
        description="Convert a Pascal VOC folder (JPEGImages/, Annotations/) to YOLO images/ and labels/ with a "
        "train/val split and a data.yaml. The source folder is only read; the destination must be new or empty."
    )
    parser.add_argument("--src", required=True, type=Path, help="VOC folder holding JPEGImages/ and Annotations/")
    parser.add_argument("--dst", type=Path,
                        help="new or empty output folder (default: datasets/<source folder name>-yolo)")
    parser.add_argument("--train-ratio", type=float, default=0.8, help="share of images for training (default: 0.8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split; the same seed gives the same split")
    parser.add_argument(
        "--classes",
        help="comma-separated class names in id order; objects of other classes are skipped "
        "(default: every name in the annotations, sorted)",
    )
    parser.add_argument("--drop-difficult", action="store_true", help="leave out objects marked <difficult>1")
    args = parser.parse_args(argv)
    classes = args.classes.split(",") if args.classes is not None else None
    dst = args.dst if args.dst is not None else Path("datasets") / f"{args.src.resolve().name}-yolo"
    try:
        summary = voc_to_yolo(
            args.src,
            dst,
            train_ratio=args.train_ratio,
            seed=args.seed,
            classes=classes,
            drop_difficult=args.drop_difficult,
        )
    except UserError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
