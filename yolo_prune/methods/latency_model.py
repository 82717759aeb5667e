"""What the speed target knows about cost: the layers it cuts (``Unit``), each layer's measured cost (``Probe``), the
order channels go in (``Ranking``) and the latency model built once per run and corrected by every cut timed since
(``LatencyModel``), and which of the proposals timed a step keeps (``choose_proposal``, ``within_noise``). The
method that uses them is ``yolo_prune.methods.latency``.

Usage:
    from yolo_prune.methods.latency_model import LatencyModel, Ranking

    model = LatencyModel(read_json(run_dir / LATENCY_MODEL_FILE))  # as the latency method wrote it
    share = model.predict({"model.2.cv1.conv|model.2.cv0.conv": 8})  # the base's latency share a cut would take
    widths = Ranking(probed, rules).widths(120)  # the widths once the 120 cheapest channels have gone

CLI (the speed target these serve):
    yolo-prune --model best.pt --data data.yaml --target-speedup 2
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch.nn as nn

from yolo_prune.methods.base import WidthRules

MARGIN = 0.03  # each step aims this much beyond its target: the measurement after fine-tuning has its own noise
OVERSHOOT = 0.05  # a proposal this much beyond the step's target is kept without looking for a smaller cut


@dataclass
class Unit:
    """Convs the run cuts to one width (a coupled group, or both halves of a C2f block), in the prunable form."""

    layer: str  # the stock name of its first conv (both halves of a C2f block: the block's cv1)
    key: tuple[str, ...]  # the names of its convs in the prunable form
    convs: list[nn.Conv2d]
    width: int
    floor: int  # the narrowest width the run allows it; == width when the rules derive it from others
    stock_factor: int = 1  # the stock conv holds both halves of a C2f block: twice the unit's width

    @property
    def cuttable(self) -> bool:
        return self.floor < self.width


@dataclass
class Probe:
    """A layer's row of the latency table, as the width choice reads it."""

    unit: Unit
    slope: float  # the share of the base's latency one of its channels costs (on average, where ``saved`` is given)
    change: float  # how far the model's outputs move when the layer is halved (``output_change``)
    saved: Callable[[int], float] | None = None  # the share its cut to a width saves (the latency model); else linear

    def saving(self, width: int) -> float:
        """The share of the base's latency the layer's cut from its width to ``width`` saves."""
        return self.saved(width) if self.saved else self.slope * (self.unit.width - width)


class Ranking:
    """Channels in the order they go: ``widths(n)`` are the widths once the first ``n`` have gone, after the width
    rules; ``saving`` is what the latency table predicts for them (the sum of each layer's measured slope).

    A layer's accuracy cost is its measured output change when halved, grown with the square of the share that goes
    (a cut of a converged model costs to second order: small cuts little, deep ones much more), so the k-th channel
    of a layer of width w costs ``change * 4 * (2k - 1) / w**2``; divided by the time the channel saves (the
    layer's slope, or what its ``saved`` curve says that channel saves), that ranks every channel of the model.
    Channels whose cut the table says saves no time come last, cheapest first: a noisy table can miss what a layer
    saves (a CI machine's OpenVINO timings left a step's ranking at 1.42x of its 1.6x aim when it stopped there), so
    ``widths(size)`` is every layer at its floor."""

    def __init__(self, probed: list[Probe], rules: WidthRules) -> None:
        saving, free = [], []
        for i, p in enumerate(probed):
            w = p.unit.width
            for k in range(1, w - p.unit.floor + 1):
                cost = p.change * 4 * (2 * k - 1) / w**2
                gain = p.saving(w - k) - p.saving(w - k + 1)
                if gain > 0:
                    saving.append((cost / gain, i))
                else:
                    free.append((cost, i))
        self.probed, self.order, self.rules = probed, [i for _, i in sorted(saving) + sorted(free)], rules
        self.size = len(self.order)

    def widths(self, n: int) -> dict[nn.Conv2d, int]:
        removed = Counter(self.order[:n])
        return self.rules.apply({c: p.unit.width - removed[i] for i, p in enumerate(self.probed) for c in p.unit.convs})

    def saving(self, widths: dict[nn.Conv2d, int]) -> float:
        return sum(p.saving(widths[p.unit.convs[0]]) for p in self.probed)

    def first(self, need: float) -> int:
        """The fewest channels whose predicted saving reaches ``need`` (all of them if none does)."""
        lo, hi = 0, self.size
        while lo < hi:
            mid = (lo + hi) // 2
            if self.saving(self.widths(mid)) >= need:
                hi = mid
            else:
                lo = mid + 1
        return lo


class LatencyModel:
    """What each layer's width costs, measured once and interpolated (HALP's latency lookup table, NetAdapt's
    per-layer tables), and corrected by every cut timed since.

    ``points[key]``: widths of the layer (its convs' names in the prunable form joined by ``|``) with the share of the
    base's latency its cut to that width saved, the other layers at the widths the model was built on (where
    ``context`` is the share of the base's latency that model took: 1 when built on the base); linear in between.
    The savings of cuts made together are not the sum of their single-layer savings; ``correction`` is the factor
    (least squares through the origin) that takes that sum to the saving measured, over every cut in ``fits``.
    ``LatencyModel(read_json(path))`` reads what ``as_dict`` wrote."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.points: dict[str, list[list[float]]] = data["points"]
        self.layers: dict[str, str] = data["layers"]
        self.derived: list[str] = data["derived"]
        self.context: float = data["context"]
        self.built_at_step: int = data["built_at_step"]
        self.noise: float = data["noise"]
        self.fits: list[dict[str, Any]] = data.get("fits", [])

    def as_dict(self) -> dict[str, Any]:
        return {"built_at_step": self.built_at_step, "context": self.context, "noise": self.noise,
                "correction": self.correction(), "derived": self.derived, "layers": self.layers,
                "points": self.points, "fits": self.fits}  # fmt: skip

    def saved(self, key: str, width: int) -> float:
        """The share of the base's latency the layer's cut to ``width`` saves, alone (0 for a layer not in it)."""
        pts = sorted(self.points.get(key, []))
        if not pts:
            return 0.0
        return float(np.interp(width, [w for w, _ in pts], [s for _, s in pts]))

    def raw(self, widths: dict[str, int]) -> float:
        """The sum of single-layer savings of a cut to ``widths`` (key -> width)."""
        return sum(self.saved(k, w) for k, w in widths.items())

    def correction(self) -> float:
        pairs = [(f["raw"], f["context"] - f["measured"]) for f in self.fits if f["raw"] > 0]
        if not pairs:
            return 1.0
        return sum(r * m for r, m in pairs) / sum(r * r for r, _ in pairs)

    def predict(self, widths: dict[str, int]) -> float:
        """The share of the base's latency a model at ``widths`` takes."""
        return self.context - self.correction() * self.raw(widths)

    def learn(self, step: int, what: str, widths: dict[str, int], measured: float) -> float:
        """Add a timed cut (``measured``: its share of the base's latency); its prediction before, for the error."""
        predicted = self.predict(widths)
        self.fits.append({"step": step, "what": what, "raw": self.raw(widths), "context": self.context,
                          "predicted": predicted, "measured": measured})  # fmt: skip
        return predicted


def monotone(points: list[tuple[int, float]]) -> list[list[float]]:
    """Savings that never fall as a layer narrows (timing noise can make a deeper cut measure less): each point's
    saving at least that of every wider one, and none below 0."""
    out, best = [], 0.0
    for w, s in sorted(points, reverse=True):
        best = max(best, s)
        out.append([w, best])
    return out


def keyed(units: list[Unit], widths: dict[nn.Conv2d, int]) -> dict[str, int]:
    """The widths of ``units`` by the latency model's keys."""
    return {"|".join(u.key): widths[u.convs[0]] for u in units}


def narrowed(widths: dict[nn.Conv2d, int], stock: dict[nn.Conv2d, str], layer: str) -> float:
    """How many layers ``widths`` narrows, each counted by its share of the cut that ``layer`` takes (stock layers:
    both halves of a C2f block are one)."""
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    for conv, width in widths.items():
        before[stock[conv]] += conv.out_channels
        after[stock[conv]] += width
    shrink = {name: 1 - after[name] / before[name] for name in before if after[name] < before[name]}
    return sum(shrink.values()) / shrink[layer]


def choose_proposal(proposals: list[dict[str, Any]], goal: float, aim: float) -> dict[str, Any] | None:
    """The proposal a step cuts: the fewest channels among those that measured the aim without running more than
    ``OVERSHOOT`` past it, else among those that measured the step's goal within that bound, else among all that
    measured the goal, else the fastest. A cut far past the aim costs accuracy for speed the step did not ask for, so
    it is taken only when nothing nearer met the goal (a yolov8n step aiming at 2.06x took a 2.69x cut while a cut
    with a fifth fewer channels had measured 2.03x)."""
    bound = aim * (1 + OVERSHOOT)
    for low, high in ((aim, bound), (goal, bound), (goal, math.inf)):
        fits = [p for p in proposals if low <= p["measured_speedup"] <= high]
        if fits:
            return min(fits, key=lambda p: p["channels"])
    return max(proposals, key=lambda p: p["measured_speedup"], default=None)


def within_noise(speed: float, aim: float, error: float) -> bool:
    """True when a proposal ends the step's search because its timing cannot tell it from the aim (within twice its
    relative error): another proposal would chase the noise (yolov8m at 640 px, wall clock: 1.86-2.33x for one cut).
    Never for one short of the step's goal: a noisy timing must not leave the step short of its target (an OpenVINO
    run timed 20 rounds stopped at 1.43x for a 1.65x aim, and ended at 1.38x of its 1.6x)."""
    return speed * (1 + MARGIN) >= aim and abs(speed / aim - 1) <= 2 * error
