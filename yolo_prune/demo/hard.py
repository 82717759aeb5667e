"""A harder generated detection data set, on which a bigger detector scores clearly higher than a small one.

The demo's shapes (``synthetic.py``) are large, plain and few, so a yolov8n learns them almost fully in minutes and
model capacity hardly shows. This set keeps the same Pascal VOC layout but adds what makes detection hard:

- **Look-alike classes**: 12 shapes in pairs that differ only in a detail: circle / ring (a hole), square /
  notched_square (a corner cut away), triangle / chevron (a bite out of the base), plus / x_cross (turned 45
  degrees), star5 / star6 (one point more), pentagon / hexagon (one corner more). The default leaves out the last
  pair (``DEFAULT_CLASSES``): it was among the hardest in calibration, and 10 classes brought a yolov8n into the
  intended range. Colour and fill (plain, striped, speckled) are random for every shape, so only the form tells the
  classes apart.
- **Small objects and a range of scales**: sides are drawn log-uniformly from ``min_size`` to ``max_size`` of the
  image side, so small objects are the most common.
- **Clutter**: distractor shapes that are no class (ellipses, rectangles, strokes, crescents, open rings, clouds of
  discs) drawn with the same colours and fills, on textured backgrounds (noise, stripes, checks, blotches).
- **Occlusion and truncation**, with one labelling rule: every class object keeps at least ``min_visible`` of its
  pixels visible (inside the image and not covered by anything drawn after it), and its distinguishing detail (the
  ring's hole, the notch, the chevron's bite) stays wholly visible and inside the image; a placement that would break
  this is tried elsewhere. So every class object drawn is labelled, with the bounding box of its visible pixels (VOC's
  convention), and ``<truncated>1`` when part of it lies outside the image. Distractors are never labelled.

With the defaults (600 images, 128 px) and the base-model recipe (``base_model.RECIPE``), a yolov8n reached mAP50-95
0.30-0.31 and a yolov8s 0.52 (BENCHMARKS.md, "The hard data set"). The same settings always give byte-identical
files, and image ``i`` depends only on the settings and ``i``. ``hard_dataset`` caches the set under a folder named
after every setting (``hard-600x128-10cls-seed0-<hash of all settings>``) and splits it 80/20 into YOLO layout with
``voc_to_yolo``, class ids in the order of ``classes``.

Usage:
    from yolo_prune.demo.hard import hard_dataset, generate_hard_voc

    data_yaml = hard_dataset("datasets/generated")  # the defaults; cached; YOLO layout, ready for training
    data_yaml = hard_dataset("datasets/generated", n_images=1000, imgsz=160, seed=1)  # any HardSettings field
    generate_hard_voc("datasets/hard-voc", n_images=20)  # VOC layout only, not cached

CLI (progress on stderr, the data.yaml path alone on stdout, so that scripts can capture it):
    python -m yolo_prune.demo.hard --root datasets/generated [--images 600] [--imgsz 128] [--seed 0]
        [--classes circle,ring,...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image, ImageDraw

from yolo_prune.demo.synthetic import voc_folders, voc_xml
from yolo_prune.errors import UserError
from yolo_prune.tools.voc import voc_to_yolo

CLASSES = (
    "circle", "ring", "square", "notched_square", "triangle", "chevron",
    "plus", "x_cross", "pentagon", "hexagon", "star5", "star6",
)  # fmt: skip
LOOK_ALIKES = (("circle", "ring"), ("square", "notched_square"), ("triangle", "chevron"), ("plus", "x_cross"),
               ("pentagon", "hexagon"), ("star5", "star6"))  # fmt: skip
DEFAULT_CLASSES = tuple(c for c in CLASSES if c not in ("pentagon", "hexagon"))
DISTRACTORS = ("ellipse", "rectangle", "stroke", "crescent", "arc", "cloud")
FORMAT = 1  # part of the cache key: bump it whenever the same settings would give different files
TRAIN_RATIO = 0.8
SUPERSAMPLE = 4  # shapes are drawn this much larger and shrunk, for smooth edges
PLACEMENT_TRIES = 100
COLOUR_TRIES = 30
MAX_OUTSIDE = 0.35  # share of a shape's side that may lie beyond the image border

Polygon = list[tuple[float, float]]


@dataclass(frozen=True)
class HardSettings:
    """Every generator setting; the cache folder's name holds all of them (``name``)."""

    n_images: int = 600
    imgsz: int = 128
    seed: int = 0
    classes: tuple[str, ...] = DEFAULT_CLASSES
    min_objects: int = 3
    max_objects: int = 8
    min_distractors: int = 1
    max_distractors: int = 4
    min_size: float = 0.14
    max_size: float = 0.5
    min_visible: float = 0.6
    min_contrast: float = 90.0  # RGB distance between a shape's colour and what it covers
    noise: float = 4.0  # standard deviation of the pixel noise added last
    quality: int = 90  # JPEG quality

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        _check(self)

    @property
    def name(self) -> str:
        """The cache folder's name: the main settings readable, all of them (and ``FORMAT``) in the hash."""
        digest = hashlib.sha256(json.dumps({**asdict(self), "format": FORMAT}, sort_keys=True).encode()).hexdigest()
        return f"hard-{self.n_images}x{self.imgsz}-{len(self.classes)}cls-seed{self.seed}-{digest[:10]}"


def hard_dataset(
    root: str | Path = "datasets/generated", settings: HardSettings | None = None, **overrides: Any
) -> Path:
    """Return ``data.yaml`` of the hard set in YOLO layout under ``root``, generating and splitting it when missing.

    ``overrides`` are ``HardSettings`` fields (``n_images=600, imgsz=160, seed=0``). The VOC images are generated
    once into ``root/<settings.name>/voc``; the YOLO split beside it is redone only when its ``data.yaml`` is missing
    or points to another place (it holds an absolute path, which must follow the checkout).
    """
    settings = _settings(settings, overrides)
    folder = Path(root) / settings.name
    voc, yolo = folder / "voc", folder / "yolo"
    data_yaml = yolo / "data.yaml"
    fresh = not voc.is_dir()
    if fresh:  # generated aside and renamed: an interrupted run never leaves a set that looks complete
        partial = folder / "voc.partial"
        shutil.rmtree(partial, ignore_errors=True)
        generate_hard_voc(partial, settings)
        partial.rename(voc)
    if fresh or not _split_is_current(data_yaml):
        shutil.rmtree(yolo, ignore_errors=True)
        voc_to_yolo(voc, yolo, train_ratio=TRAIN_RATIO, seed=settings.seed, classes=settings.classes)
    return data_yaml


def generate_hard_voc(out_dir: str | Path, settings: HardSettings | None = None, **overrides: Any) -> Path:
    """Write the hard set's JPEGs and VOC annotations under ``out_dir`` (new or empty) and return ``out_dir``."""
    settings = _settings(settings, overrides)
    out = Path(out_dir)
    images, annotations = voc_folders(out)
    for i in range(settings.n_images):
        scene = render_scene(settings, i)
        truncated = [shape.truncated for shape in scene.shapes if shape.labelled]
        filename = f"{i:06d}.jpg"
        scene.image.save(images / filename, format="JPEG", quality=settings.quality)
        (annotations / f"{i:06d}.xml").write_bytes(voc_xml(filename, settings.imgsz, scene.objects, truncated))
    return out


def draw_shape(name: str, side: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A class or distractor shape as the generator draws it, filling a ``side`` x ``side`` canvas: its coverage
    (uint8, 0-255) and its detail zone (bool; empty for shapes without one). For tests and for looking at shapes."""
    if name not in CLASSES + DISTRACTORS:
        raise UserError(f"unknown shape {name!r}; shapes are {', '.join(CLASSES + DISTRACTORS)}")
    polygons, detail = _outline(name, rng)
    window = (0, 0, side, side)
    centre = side / 2
    return _rasterize(polygons, centre, centre, side, window), _rasterize(detail, centre, centre, side, window) > 0


def _settings(settings: HardSettings | None, overrides: dict[str, Any]) -> HardSettings:
    """``settings`` with ``overrides`` applied; an unknown name is the caller's mistake, reported as a UserError."""
    base = asdict(settings) if settings is not None else {}
    unknown = sorted(set(overrides) - set(HardSettings.__dataclass_fields__))
    if unknown:
        raise UserError(f"unknown hard data set setting(s): {', '.join(unknown)}")
    return HardSettings(**{**base, **overrides})


def _check(s: HardSettings) -> None:
    """Reject settings that would give an unusable or silently different data set."""
    if s.n_images < 2:
        raise UserError(f"number of images must be at least 2 (a train and a val split), got {s.n_images}")
    if s.imgsz < 32:
        raise UserError(f"image size must be at least 32 pixels, got {s.imgsz}")
    if s.seed < 0:
        raise UserError(f"seed must be 0 or more, got {s.seed}")
    unknown = [c for c in s.classes if c not in CLASSES]
    if unknown or not s.classes or len(set(s.classes)) != len(s.classes):
        given = ", ".join(s.classes) or "none"
        raise UserError(f"classes must be distinct names from {', '.join(CLASSES)}; got {given}")
    if not 1 <= s.min_objects <= s.max_objects <= 20:
        raise UserError(f"need 1 <= min objects <= max objects <= 20, got {s.min_objects} and {s.max_objects}")
    if not 0 <= s.min_distractors <= s.max_distractors <= 20:
        raise UserError(f"need 0 <= min distractors <= max distractors <= 20, got {s.min_distractors} and "
                        f"{s.max_distractors}")  # fmt: skip
    if not 0.02 <= s.min_size <= s.max_size <= 0.9:
        raise UserError(f"need 0.02 <= min size <= max size <= 0.9 (fractions of the side), got {s.min_size} and "
                        f"{s.max_size}")  # fmt: skip
    if not 0.3 <= s.min_visible <= 1:
        raise UserError(f"min visible share must be 0.3 to 1, got {s.min_visible}")
    if not 0 <= s.min_contrast <= 200:
        raise UserError(f"min contrast must be 0 to 200, got {s.min_contrast}")
    if not 0 <= s.noise <= 50:
        raise UserError(f"noise must be 0 to 50, got {s.noise}")
    if not 1 <= s.quality <= 100:
        raise UserError(f"JPEG quality must be 1 to 100, got {s.quality}")


def _split_is_current(data_yaml: Path) -> bool:
    """A finished split (voc_to_yolo writes data.yaml last) whose absolute path is still where it is."""
    if not data_yaml.is_file():
        return False
    data = yaml.safe_load(data_yaml.read_text(encoding="utf-8")) or {}
    return data.get("path") == str(data_yaml.parent.resolve())


@dataclass
class Shape:
    """A shape drawn on an image, with what the labelling rule needs to know about it."""

    name: str
    labelled: bool  # a class object; distractors are not labelled
    colour: np.ndarray
    area: int  # pixels of the whole shape, also those beyond the image border
    visible: int  # pixels inside the image that no later shape covers
    truncated: bool  # part of it lies beyond the image border
    detail: np.ndarray  # bool mask of its detail zone (ring hole, notch, chevron bite), empty for most shapes


@dataclass
class Scene:
    """One generated image with what was drawn: ``owner`` holds the index of the top shape per pixel (-1: none)."""

    image: Image.Image
    owner: np.ndarray
    shapes: list[Shape]

    @property
    def objects(self) -> list[tuple[str, tuple[int, int, int, int]]]:
        """The labels: each class object's name and the box of its visible pixels (left, top, right, bottom)."""
        labels = []
        for i, shape in enumerate(self.shapes):
            if shape.labelled:
                ys, xs = np.nonzero(self.owner == i)
                labels.append((shape.name, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)))
        return labels


def render_scene(settings: HardSettings, index: int) -> Scene:
    """Image ``index`` of the set, with its shapes and pixel owners, as ``generate_hard_voc`` writes it."""
    s = settings
    rng = np.random.default_rng([s.seed, index])
    n = s.imgsz
    canvas = _background(rng, n)
    owner = np.full((n, n), -1, np.int16)
    protected = np.zeros((n, n), bool)  # detail zones of class objects, which nothing may cover
    shapes: list[Shape] = []
    kinds = [True] * int(rng.integers(s.min_objects, s.max_objects + 1))
    kinds += [False] * int(rng.integers(s.min_distractors, s.max_distractors + 1))
    for labelled in rng.permutation(kinds):
        names = s.classes if labelled else DISTRACTORS
        _place(rng, s, names[int(rng.integers(len(names)))], bool(labelled), canvas, owner, protected, shapes)
    canvas += rng.normal(0, s.noise, canvas.shape)
    image = Image.fromarray(np.clip(np.rint(canvas), 0, 255).astype(np.uint8))
    return Scene(image, owner, shapes)


def _place(
    rng: np.random.Generator,
    s: HardSettings,
    name: str,
    labelled: bool,
    canvas: np.ndarray,
    owner: np.ndarray,
    protected: np.ndarray,
    placed: list[Shape],
) -> None:
    """Draw one shape where it keeps the labelling rule for every class object, shrinking it as tries fail; give up
    after ``PLACEMENT_TRIES`` (the image then holds one shape fewer)."""
    n = s.imgsz
    low = math.log(s.min_size * n)
    for attempt in range(PLACEMENT_TRIES):
        high = math.log(s.max_size * n) - (math.log(s.max_size * n) - low) * attempt / PLACEMENT_TRIES
        side = math.exp(rng.uniform(low, high))
        cx, cy = rng.uniform(side * (0.5 - MAX_OUTSIDE), n - side * (0.5 - MAX_OUTSIDE), 2)
        polygons, detail_polygons = _outline(name, rng)
        window = (math.floor(cx - side / 2) - 1, math.floor(cy - side / 2) - 1,
                  math.ceil(cx + side / 2) + 1, math.ceil(cy + side / 2) + 1)  # fmt: skip
        alpha = _rasterize(polygons, cx, cy, side, window)
        area = int((alpha >= 128).sum())
        inside = (slice(max(window[1], 0), min(window[3], n)), slice(max(window[0], 0), min(window[2], n)))
        local = (slice(inside[0].start - window[1], inside[0].stop - window[1]),
                 slice(inside[1].start - window[0], inside[1].stop - window[0]))  # fmt: skip
        alpha = alpha[local]
        cover = alpha >= 128
        visible = int(cover.sum())
        if area == 0 or visible == 0 or (labelled and visible < s.min_visible * area):
            continue
        detail = _rasterize(detail_polygons, cx, cy, side, window) > 0
        if detail.sum() != detail[local].sum():  # the detail must lie wholly inside the image
            continue
        detail = detail[local]
        if (protected[inside] & cover).any():
            continue
        below = owner[inside][cover]
        covered = {int(i): int(c) for i, c in zip(*np.unique(below[below >= 0], return_counts=True))}
        if any(placed[i].labelled and placed[i].visible - c < s.min_visible * placed[i].area
               for i, c in covered.items()):  # fmt: skip
            continue
        region = canvas[inside]
        against = [region[cover].mean(0), *(placed[i].colour for i in covered)]
        if detail.any():
            against.append(region[detail].mean(0))
        colour = _contrasting_colour(rng, against, s.min_contrast)
        if colour is None:
            continue
        a = alpha[..., None] / 255.0
        canvas[inside] = region * (1 - a) + _fill(rng, colour, alpha.shape) * a
        owner[inside][cover] = len(placed)
        for i, c in covered.items():
            placed[i].visible -= c
        zone = np.zeros_like(protected)
        if labelled:
            zone[inside] = detail
            protected |= zone
        placed.append(Shape(name, labelled, colour, area, visible, truncated=visible < area, detail=zone))
        return


def _contrasting_colour(rng: np.random.Generator, against: list[np.ndarray], min_contrast: float) -> np.ndarray | None:
    """A random colour at least ``min_contrast`` away from each of ``against`` (what the shape covers), or None."""
    for _ in range(COLOUR_TRIES):
        colour = rng.uniform(0, 255, 3)
        if all(np.linalg.norm(colour - c) >= min_contrast for c in against):
            return colour
    return None


def _background(rng: np.random.Generator, n: int) -> np.ndarray:
    """A textured background (noise, stripes, checks, blotches or a noisy gradient) as float RGB."""
    kind = int(rng.integers(5))
    base = rng.uniform(0, 255, 3)
    amplitude = rng.uniform(-45, 45, 3)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    angle = rng.uniform(0, 2 * math.pi)
    along = xx * math.cos(angle) + yy * math.sin(angle)
    if kind == 0:
        pattern = rng.normal(0, 0.35, (n, n))
    elif kind == 1:
        pattern = np.floor(along / rng.uniform(2, 10)) % 2 - 0.5
    elif kind == 2:
        across = -xx * math.sin(angle) + yy * math.cos(angle)
        cell = rng.uniform(3, 16)
        pattern = (np.floor(along / cell) + np.floor(across / cell)) % 2 - 0.5
    elif kind == 3:
        cells = int(rng.integers(3, 10))
        small = Image.fromarray(rng.uniform(0, 255, (cells, cells)).astype(np.float32))
        pattern = np.asarray(small.resize((n, n), Image.Resampling.BICUBIC), np.float64) / 255 - 0.5
    else:
        pattern = (along - along.min()) / max(np.ptp(along), 1e-9) - 0.5 + rng.normal(0, 0.1, (n, n))
    return np.clip(base + pattern[..., None] * amplitude, 0, 255)


def _fill(rng: np.random.Generator, colour: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A shape's paint: its colour plain, striped or speckled, so that texture never tells a class."""
    kind = int(rng.integers(3))
    if kind == 0:
        return np.broadcast_to(colour, (*shape, 3))
    if kind == 1:
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
        angle = rng.uniform(0, math.pi)
        pattern = np.floor((xx * math.cos(angle) + yy * math.sin(angle)) / rng.uniform(1.5, 4)) % 2 - 0.5
    else:
        pattern = rng.normal(0, 0.35, shape)
    return np.clip(colour + pattern[..., None] * rng.uniform(-35, 35, 3), 0, 255)


def _outline(name: str, rng: np.random.Generator) -> tuple[list[tuple[Polygon, int]], list[Polygon]]:
    """The shape as polygons in a [-1, 1] square, each with its fill (255 draws, 0 cuts away), and its detail zone.

    Every shape reaches the square's border, so that its bounding box is as large as the side it was drawn at.
    """
    quarter = int(rng.integers(4)) * math.pi / 2
    turn = rng.uniform(0, 2 * math.pi)
    square = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
    disc = _regular(64, 1.0)
    hole = _regular(64, 0.6)
    arm = [(-1.0, -1 / 3), (1.0, -1 / 3), (1.0, 1 / 3), (-1.0, 1 / 3)]
    detail: list[Polygon] = []
    if name == "circle":
        polygons = [(disc, 255)]
    elif name == "ring":
        polygons, detail = [(disc, 255), (hole, 0)], [hole]
    elif name == "square":
        polygons = [(square, 255)]
    elif name == "notched_square":  # a corner square of half the side cut away
        notch = _rotate([(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)], quarter)
        polygons, detail = [(square, 255), (notch, 0)], [notch]
    elif name in ("triangle", "chevron"):  # pointing up, right, down or left
        polygons = [(_rotate([(-1.0, 1.0), (1.0, 1.0), (0.0, -1.0)], quarter), 255)]
        if name == "chevron":  # the base pushed in by 40 % of the height: an arrowhead
            bite = _rotate([(-1.0, 1.0), (1.0, 1.0), (0.0, 0.2)], quarter)
            polygons, detail = [*polygons, (bite, 0)], [bite]
    elif name in ("plus", "x_cross"):
        angle = 0.0 if name == "plus" else math.pi / 4
        polygons = [(_rotate(arm, angle), 255), (_rotate(arm, angle + math.pi / 2), 255)]
    elif name in ("pentagon", "hexagon"):
        polygons = [(_regular(5 if name == "pentagon" else 6, 1.0, turn), 255)]
    elif name in ("star5", "star6"):
        points = 5 if name == "star5" else 6
        polygons = [(_regular(2 * points, 1.0, turn, inner=0.5), 255)]
    elif name == "ellipse":
        polygons = [(_rotate([(x, y / rng.uniform(1.6, 2.6)) for x, y in disc], turn), 255)]
    elif name in ("rectangle", "stroke"):
        aspect = rng.uniform(1.7, 3.0) if name == "rectangle" else rng.uniform(5.0, 10.0)
        polygons = [(_rotate([(x, y / aspect) for x, y in square], turn), 255)]
    elif name == "crescent":
        shift = rng.uniform(0.4, 0.8)
        polygons = [(disc, 255), (_rotate([(x + shift, y) for x, y in disc], turn), 0)]
    elif name == "arc":  # a ring with a gap, like a C
        gap = rng.uniform(0.45, 0.9)
        wedge = _rotate([(0.0, 0.0), (2 * math.cos(gap), 2 * math.sin(gap)), (2.0, 0.0),
                         (2 * math.cos(gap), -2 * math.sin(gap))], turn)  # fmt: skip
        polygons = [(disc, 255), (hole, 0), (wedge, 0)]
    else:  # a cloud of three overlapping discs: round edges that make no circle and no polygon
        polygons = []
        for r, x, y in zip(rng.uniform(0.45, 0.7, 3), *rng.uniform(-0.5, 0.5, (2, 3))):
            polygons.append(([(px + x, py + y) for px, py in _regular(48, r)], 255))
    return _normalised(polygons, detail)


def _regular(k: int, radius: float, turn: float = 0.0, inner: float | None = None) -> Polygon:
    """``k`` vertices at equal angles: a regular polygon, or a star with every other vertex at ``inner``."""
    r = [radius * (inner if inner is not None and i % 2 else 1.0) for i in range(k)]
    angles = [turn + 2 * math.pi * i / k for i in range(k)]
    return [(r[i] * math.cos(a), r[i] * math.sin(a)) for i, a in enumerate(angles)]


def _rotate(points: Polygon, angle: float) -> Polygon:
    c, s = math.cos(angle), math.sin(angle)
    return [(x * c - y * s, x * s + y * c) for x, y in points]


def _normalised(
    polygons: list[tuple[Polygon, int]], detail: list[Polygon]
) -> tuple[list[tuple[Polygon, int]], list[Polygon]]:
    """Centre the shape's drawn part and scale it to just fill the [-1, 1] square in its longer direction."""
    xs, ys = zip(*(point for points, fill in polygons if fill for point in points))
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    half = max(max(xs) - min(xs), max(ys) - min(ys)) / 2

    def fit(points: Polygon) -> Polygon:
        return [((x - cx) / half, (y - cy) / half) for x, y in points]

    return [(fit(p), fill) for p, fill in polygons], [fit(p) for p in detail]


def _rasterize(polygons: Sequence, cx: float, cy: float, side: float, window: tuple[int, int, int, int]) -> np.ndarray:
    """Coverage (0-255) of the polygons drawn at centre ``(cx, cy)`` and ``side``, over the pixel ``window``
    (left, top, right, bottom; it may reach past the image). Polygons are (points, fill) pairs or bare points."""
    x0, y0, x1, y1 = window
    k, half = SUPERSAMPLE, side / 2
    mask = Image.new("L", ((x1 - x0) * k, (y1 - y0) * k), 0)
    draw = ImageDraw.Draw(mask)
    for polygon in polygons:
        points, fill = polygon if isinstance(polygon[1], int) else (polygon, 255)
        draw.polygon([((cx + x * half - x0) * k, (cy + y * half - y0) * k) for x, y in points], fill=fill)
    return np.asarray(mask.resize((x1 - x0, y1 - y0), Image.Resampling.BOX))


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for a user error)."""
    defaults = HardSettings()
    parser = argparse.ArgumentParser(
        prog="python -m yolo_prune.demo.hard",
        description="Generate (or reuse) the hard shapes data set in YOLO layout and print its data.yaml path.",
    )
    parser.add_argument("--root", type=Path, default=Path("datasets/generated"),
                        help="parent of the cached data set folders (default: datasets/generated)")  # fmt: skip
    parser.add_argument("--images", type=int, default=defaults.n_images,
                        help=f"number of images (default: {defaults.n_images})")  # fmt: skip
    parser.add_argument("--imgsz", type=int, default=defaults.imgsz,
                        help=f"image side in pixels (default: {defaults.imgsz})")  # fmt: skip
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help=f"the same settings give identical files (default: {defaults.seed})")  # fmt: skip
    parser.add_argument("--classes", help=f"comma-separated class names, in id order, from {', '.join(CLASSES)} "
                        "(default: all but pentagon and hexagon)")  # fmt: skip
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {"n_images": args.images, "imgsz": args.imgsz, "seed": args.seed}
    if args.classes is not None:
        overrides["classes"] = [c.strip() for c in args.classes.split(",")]
    started = time.time()
    try:
        data_yaml = hard_dataset(args.root, **overrides)
    except UserError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    print(f"hard data set ready in {time.time() - started:.0f} s: {data_yaml.parent.parent}", file=sys.stderr)
    print(data_yaml)
    return 0


if __name__ == "__main__":
    sys.exit(main())
