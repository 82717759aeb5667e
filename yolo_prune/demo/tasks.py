"""Deterministic shapes data sets for segmentation, pose and oriented boxes, labelled from the shapes as drawn.

The detection generator (``yolo_prune.demo.synthetic``) writes boxes in Pascal VOC layout; this one draws the same
kinds of shapes on the same backgrounds and writes Ultralytics' YOLO layout directly, with the labels each task needs:

- ``segment``: the shape's own outline as the polygon, the exact one for square, triangle, cross and star, and a
  ``CIRCLE_VERTICES``-gon for the circle. Every shape is drawn by filling that very polygon, so label and pixels agree.
- ``pose``: ``KEYPOINTS`` keypoints, all visible (2): the shape's centre and its topmost, rightmost, bottommost and
  leftmost points (where an edge is level, its middle). These mean the same on every shape, lie on the outline that
  the model sees, and stay well defined under a horizontal flip: centre and top/bottom stay, right and left swap,
  hence ``flip_idx`` [0, 1, 4, 3, 2]. The corners of a rotated square would not: after a mirror image they have
  no left/right meaning.
- ``obb``: each shape is drawn turned by a random angle, and its label is that turned square (eight coordinates).

Image ``i`` depends only on ``seed`` and ``i`` and goes to the val split when it is one of every ``1 / val_ratio``
(spread evenly), so a larger set starts with the images and split of a smaller one. The same arguments always give
byte-identical files.

Usage:
    from yolo_prune.demo.tasks import generate_task_dataset

    data_yaml = generate_task_dataset("datasets/generated/shapes-seg", "segment", n_images=300, imgsz=128)
    # images/{train,val}/000000.jpg, labels/{train,val}/000000.txt, data.yaml (absolute path, names; kpt_shape...)

CLI:
    python -m yolo_prune.demo.tasks --task pose --out datasets/generated/shapes-pose --images 300 --imgsz 128
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

from yolo_prune.demo.synthetic import (
    SUPERSAMPLE, background, check_options, contrasting_colour, place, ring, run_generator, shape_arguments,
    shape_options,
)  # fmt: skip
from yolo_prune.errors import UserError

TASKS = ("segment", "pose", "obb")
CIRCLE_VERTICES = 64
KEYPOINTS = 5  # centre, top, right, bottom, left
KEYPOINT_NAMES = ("centre", "top", "right", "bottom", "left")
FLIP_IDX = [0, 1, 4, 3, 2]  # a horizontal flip swaps right and left


@dataclass
class Shape:
    """One drawn object: its class index, outline (pixel-edge coordinates), centre and the square it was drawn in."""

    cls: int
    outline: np.ndarray  # (n, 2)
    centre: tuple[float, float]
    square: np.ndarray  # (4, 2), the shape's square, turned with the shape


def generate_task_dataset(
    out_dir: str | Path,
    task: str,
    n_images: int = 200,
    imgsz: int = 128,
    n_classes: int = 3,
    seed: int = 0,
    *,
    classes: Sequence[str] | None = None,
    min_objects: int = 1,
    max_objects: int = 3,
    min_size: float = 0.15,
    max_size: float = 0.5,
    val_ratio: float = 0.2,
    quality: int = 95,
) -> Path:
    """Write ``n_images`` JPEGs labelled for ``task`` in YOLO layout under ``out_dir``; return its ``data.yaml``.

    The options mean what they mean for ``generate_voc_dataset``; ``min_size``/``max_size`` bound the side of the
    upright square that holds a shape (turned, for ``obb``). ``out_dir`` must be new or empty.
    """
    if task not in TASKS:
        raise UserError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    names = check_options(n_images, imgsz, n_classes, classes, min_objects, max_objects, min_size, max_size, quality)
    if seed < 0:
        raise UserError(f"seed must be 0 or more, got {seed}")
    if not 0 < val_ratio < 1:
        raise UserError(f"val ratio must be between 0 and 1 (exclusive), got {val_ratio}")
    if n_images < 2:
        raise UserError(f"a train and a val split need at least 2 images, got {n_images}")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"output folder {out} already exists and is not empty; choose a new folder")
    for kind in ("images", "labels"):
        for split in ("train", "val"):
            (out / kind / split).mkdir(parents=True)
    for i in range(n_images):
        image, shapes = render_task_image(np.random.default_rng([seed, i]), task, imgsz, names, min_objects,
                                          max_objects, min_size, max_size)  # fmt: skip
        split = "val" if math.floor((i + 1) * val_ratio) > math.floor(i * val_ratio) else "train"
        image.save(out / "images" / split / f"{i:06d}.jpg", format="JPEG", quality=quality)
        lines = [label_line(task, shape, imgsz) for shape in shapes]
        (out / "labels" / split / f"{i:06d}.txt").write_text("".join(f"{line}\n" for line in lines))
    data = {"path": str(out.resolve()), "train": "images/train", "val": "images/val", "names": dict(enumerate(names))}
    if task == "pose":
        kpt_names = {i: list(KEYPOINT_NAMES) for i in range(len(names))}  # per class, as Ultralytics' pose yamls
        data |= {"kpt_shape": [KEYPOINTS, 3], "flip_idx": FLIP_IDX, "kpt_names": kpt_names}
    (out / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return out / "data.yaml"


def render_task_image(
    rng: np.random.Generator,
    task: str,
    imgsz: int,
    names: Sequence[str],
    min_objects: int = 1,
    max_objects: int = 3,
    min_size: float = 0.15,
    max_size: float = 0.5,
) -> tuple[Image.Image, list[Shape]]:
    """Draw one image for ``task``; return it with its shapes. Each shape's mask as pasted is ``shape_mask(...)``."""
    pixels, mean = background(rng, imgsz)
    image = Image.fromarray(pixels)
    squares: list[tuple[float, float, float, float]] = []
    shapes = []
    for _ in range(int(rng.integers(min_objects, max_objects + 1))):
        cls = int(rng.integers(len(names)))
        angle = float(rng.uniform(0, 2 * math.pi)) if task == "obb" else 0.0
        square = place(rng, imgsz, squares, min_size, max_size)  # holds the shape's turned square
        if square is None:
            continue
        squares.append(square)
        shape = _shape(rng, cls, names[cls], square, angle)
        image.paste(contrasting_colour(rng, mean), mask=shape_mask(shape.outline, imgsz))
        shapes.append(shape)
    return image, shapes


def _shape(rng: np.random.Generator, cls: int, name: str, square: tuple[float, ...], angle: float) -> Shape:
    """The outline of ``name`` in the middle of ``square``, turned by ``angle``: as large as the turned square fits."""
    cx, cy = (square[0] + square[2]) / 2, (square[1] + square[3]) / 2
    r = (square[2] - square[0]) / 2 / (abs(math.cos(angle)) + abs(math.sin(angle)))  # half the turned square's side
    if name == "circle":
        points = ring(0, 0, [r] * CIRCLE_VERTICES, 0)
    elif name == "square":
        points = [(-r, -r), (r, -r), (r, r), (-r, r)]
    elif name == "triangle":  # fills its square, pointing up, right, down or left, like the detection triangle
        points = [(-r, r), (r, r), (0, -r)]
        for _ in range(int(rng.integers(4))):
            points = [(-y, x) for x, y in points]
    elif name == "cross":
        a = r / 3
        points = [(-a, -r), (a, -r), (a, -a), (r, -a), (r, a), (a, a), (a, r), (-a, r), (-a, a), (-r, a), (-r, -a),
                  (-a, -a)]  # fmt: skip
    else:
        points = ring(0, 0, [r, 0.45 * r] * 5, float(rng.uniform(0, 2 * math.pi)))
    c, s = math.cos(angle), math.sin(angle)
    turn = np.array([[c, s], [-s, c]])  # row vectors times this turn them by ``angle`` (clockwise on screen)
    outline = np.array(points) @ turn + (cx, cy)
    corners = np.array([(-r, -r), (r, -r), (r, r), (-r, r)]) @ turn + (cx, cy)
    return Shape(cls, outline, (cx, cy), corners)


def shape_mask(outline: np.ndarray, imgsz: int) -> Image.Image:
    """The polygon filled ``SUPERSAMPLE`` times larger and shrunk: a soft-edged mask the size of the image.

    Pixel ``p`` of the large image covers ``[p, p + 1) / SUPERSAMPLE`` and PIL fills pixels by their centres, hence
    the half-pixel shift: the mask's pixels at 128 and above are those the polygon covers at least half of.
    """
    k = SUPERSAMPLE
    mask = Image.new("L", (imgsz * k, imgsz * k), 0)
    ImageDraw.Draw(mask).polygon([(x * k - 0.5, y * k - 0.5) for x, y in outline], fill=255)
    return mask.resize((imgsz, imgsz), Image.Resampling.BOX)


def keypoints(shape: Shape) -> np.ndarray:
    """Centre, then the topmost, rightmost, bottommost and leftmost points of the outline: (KEYPOINTS, 2)."""
    xy = shape.outline
    tol = 1e-6 * max(float(np.ptp(xy[:, 0])), 1.0)
    out = [shape.centre]
    for axis, sign in ((1, -1), (0, 1), (1, 1), (0, -1)):  # top: least y; right: most x; bottom; left
        v = sign * xy[:, axis]
        out.append(tuple(xy[v >= v.max() - tol].mean(0)))  # the middle of a level edge
    return np.array(out)


def label_line(task: str, shape: Shape, imgsz: int) -> str:
    """One YOLO label line for ``task``, coordinates as fractions of the image side."""
    if task == "segment":
        coords = list(shape.outline.ravel())
    elif task == "obb":
        coords = list(shape.square.ravel())
    else:
        (x0, y0), (x1, y1) = shape.outline.min(0), shape.outline.max(0)
        box = [_fmt(c / imgsz) for c in ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)]
        points = [f"{_fmt(x / imgsz)} {_fmt(y / imgsz)} 2" for x, y in keypoints(shape)]  # 2: visible
        return " ".join([str(shape.cls), *box, *points])
    return " ".join([str(shape.cls), *(_fmt(c / imgsz) for c in coords)])


def _fmt(value: float) -> str:
    """Six decimals, clipped to the image: enough for sub-pixel accuracy at any size the demo uses."""
    return f"{min(max(float(value), 0.0), 1.0):.6f}"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own is a usage block)
        self.exit(2, f"error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for a user error)."""
    parser = _Parser(
        prog="python -m yolo_prune.demo.tasks",
        description="Generate a deterministic shapes data set in YOLO layout, labelled for segmentation, pose or "
        "oriented boxes.",
    )
    parser.add_argument("--task", required=True, choices=TASKS, help="the task to label the shapes for")
    shape_arguments(parser)
    parser.add_argument("--val-ratio", type=float, default=0.2, help="share of images in the val split (default: 0.2)")
    args = parser.parse_args(argv)
    return run_generator(
        lambda: generate_task_dataset(args.out, args.task, **shape_options(args), val_ratio=args.val_ratio).parent,
        f"wrote {args.images} images labelled for {args.task} to {{out}}",
    )


if __name__ == "__main__":
    sys.exit(main())
