"""One-shot width search (``--method search``): train a supernet once, search per-layer widths under measured
latency, and cut one fine-tuned stock model per speed target.

Published precedents: AutoSlim (MMRazor), SPOS's channel search over a one-shot supernet, BigNAS and Once-for-All
(many budgets from one training). The phases, each resumable:

- **Supernet** (``--supernet-epochs``, the run's ``supernet`` step-log row): each group's channels ranked once on the
  user's model (group L2 importance, as DepGraph scores them), then trained so that every subnet, each layer keeping
  its best k channels, works: the widest, the narrowest and two random subnets batch after batch, distilled from the
  base model where the task's distillation exists (``methods.supernet``).
- **Search** (before the first target's cut; ``search.json`` after every generation, so ``--resume`` goes on from the
  last finished one): an evolutionary search over per-layer widths (each a multiple of ``--round-to`` from the layer's
  width down to its floor, through the run's width rules; the head's fixed outputs kept). A candidate is cut from
  the supernet as the real cut would cut it, its BatchNorm statistics recalibrated on training images, and scored by
  the task's deciding metric on up to ``VAL_IMAGES`` validation images; its latency comes from the speed target's
  latency model on the chosen runtime (``--latency-provider``), built once by timing each layer's cuts. Generation 0:
  uniform widths at each target (DepGraph's choice), the speed target's one-step cut at each (``--method latency``'s
  table and timed proposals; both marked in the plot) and random subnets; then, per generation, the best
  ``PARENTS`` of each target breed ``--search-population`` children by mutation and crossover (SPOS), each repaired
  until it is predicted to meet some target. At the end the best ``TIMED`` of each target are timed for real against
  the base (the latency model learns from them) and each target takes the best that measured it.
- **One step per target** (smallest first): the supernet cut to the target's widths (the same channels the supernet
  trained without), fine-tuned through the loop (``--epochs``), its checkpoint timed against the base; each step's
  checkpoint is a stock Ultralytics model (``weights/step_NN.pt`` and ``.onnx``), the final model the last target's.

The search's cost in epochs: ``--supernet-epochs`` of training (each batch one subnet; four batches make one sandwich
of subnets), then ``--epochs`` per target; the search itself trains nothing, and scores ``--search-population`` x
(``--search-generations`` + 1) candidates, each one validation of ``VAL_IMAGES`` images.

Usage:
    from yolo_prune import prune

    prune(model="best.pt", data="data.yaml", method="search", target_speedup=[1.5, 2, 3], supernet_epochs=10)

CLI:
    yolo-prune --method search --model best.pt --data data.yaml --target-speedup 1.5 2 3 --supernet-epochs 10
    yolo-prune --resume runs/prune/exp   # goes on in the phase where it stopped
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch_pruning as tp

from yolo_prune.checkpoint import load_detector
from yolo_prune.evaluation import evaluate_map
from yolo_prune.export import export_like
from yolo_prune.methods.base import WidthRules, keep_count, module_names, out_convs, prunable_groups
from yolo_prune.methods.latency import LatencyMethod, cut_copy
from yolo_prune.methods.latency_model import MARGIN, choose_proposal, keyed
from yolo_prune.methods.supernet import (
    OUTPUT_HANDLERS, SupernetDistillTraining, SupernetTraining, channel_ranks, subnet_masks,
)  # fmt: skip
from yolo_prune.rundir import (
    SEARCH_DIR, SEARCH_FILE, SPEED_TARGET_FILE, SUPERNET_DIR, checkpoint_file, read_json, write_json, write_yaml,
)  # fmt: skip
from yolo_prune.settings import speedups
from yolo_prune.structure.parts import CONVS

WIDTH_SHARES = (1, 7 / 8, 3 / 4, 5 / 8, 1 / 2, 3 / 8, 1 / 4, 1 / 8)  # candidate widths, as shares of a layer's
RANDOM_SUBNETS = 64  # subnets drawn before the supernet's training, for its random batches
VAL_IMAGES = 100  # validation images each candidate is scored on (all of a classification data set's)
PARENTS = 5  # candidates of each target that breed the next generation
MUTATION = 0.2  # chance that a mutation moves a layer's width
TIMED = 3  # best candidates of each target timed for real at the end of the search, per round
ROUNDS = 3  # rounds of timing a target's best candidates, the latency model corrected by each, until one meets it


class FixedRanking(tp.importance.Importance):
    """Torch-Pruning importance that scores each group's channels by the search's ranking (best first), so that the
    real cut removes exactly the channels the supernet trained without. The scores of any ranked conv of the group
    are mapped to the group's root, whichever layer the pruner's graph roots it at (a depthwise conv, in YOLO11's
    and YOLO26's heads)."""

    def __init__(self, scores: dict[nn.Module, torch.Tensor]) -> None:
        self.scores = scores

    def __call__(self, group: Any) -> torch.Tensor | None:
        position = {r: i for i, r in enumerate(group[0].root_idxs)}
        for item in group:
            scores = self.scores.get(item.dep.target.module)
            if scores is not None and item.dep.handler in OUTPUT_HANDLERS:
                out = torch.zeros(len(position))
                for r, idx in zip(item.root_idxs, item.idxs):
                    out[position[r]] = scores[idx]
                return out
        return None


class SearchMethod(LatencyMethod):
    """Widths for several speed targets from one supernet and one search (see the module docstring)."""

    name = "search"

    def __init__(self, settings: dict[str, Any], adapter: Any) -> None:
        super().__init__(settings, adapter)
        self._ranking: FixedRanking | None = None

    @property
    def prepare_phase(self) -> str | None:
        return "supernet" if self.settings["supernet_epochs"] > 0 else None

    @property
    def targets(self) -> list[float]:
        return self.state["targets"]

    def importance(self) -> tp.importance.Importance:
        return self._ranking or super().importance()

    def check(self, model: nn.Module) -> dict[str, Any]:
        files = super().check(model)  # the floor, and the largest target checked against it
        self.state["targets"] = speedups(self.settings)
        return files

    def prepare(self, model: nn.Module, run: Any) -> nn.Module:
        """Rank every group's channels on the user's model and draw the search space (``search.json``), then train
        the supernet (unless ``--supernet-epochs`` is 0: the search then scores subnets of the model itself)."""
        from yolo_prune.training import finetune, trainer_class

        rng = random.Random(self.settings["seed"])
        with self.adapter.prunable_form(model):
            graph, ignored, _ = self.graph(model, run.imgsz)
            groups = prunable_groups(graph, ignored)
            rules = self.width_rules(model, groups)
            base = {n: m.out_channels for n, m in model.named_modules() if isinstance(m, CONVS)}
            units = self._units(model, groups, rules, base)
            units = [u for u, _, halving in self._probes(units, rules) if halving]  # cuttable, not derived
            ranks, roots = channel_ranks(model, graph, groups, super().importance())
            choices = [sorted({keep_count(u.width, f, self.settings["round_to"], u.floor) for f in WIDTH_SHARES},
                              reverse=True) for u in units]  # fmt: skip
            subnets = [rules.apply({}), rules.apply({c: u.floor for u in units for c in u.convs})]
            subnets += [rules.apply({c: rng.choice(ch) for u, ch in zip(units, choices) for c in u.convs})
                        for _ in range(RANDOM_SUBNETS)]  # fmt: skip
            spec = subnet_masks(model, ranks, roots, subnets)
        if not (run.dir / SEARCH_FILE).is_file():  # a resumed run's search goes on where it stopped
            write_json(run.dir / SEARCH_FILE, {"units": [{"key": list(u.key), "layer": u.layer, "choices": ch}
                                                         for u, ch in zip(units, choices)],
                                               "ranks": ranks, "supernet_epochs": self.settings["supernet_epochs"],
                                               "generations": [], "chosen": {}})  # fmt: skip
        epochs = self.settings["supernet_epochs"]
        if epochs == 0:
            return model
        role = SupernetDistillTraining if self.adapter.task.distills else SupernetTraining
        distill = {"distill": {"teacher": str(run.dir / checkpoint_file("base")), "weight": self.settings[
            "distill_weight"], "warmup": self.settings["distill_warmup"]}} if role is SupernetDistillTraining else {}
        model = finetune(model, run.data, {**run.train_args, "epochs": epochs}, run.dir / SUPERNET_DIR,
                         trainer_cls=trainer_class(self.adapter.task, role), weights="last", supernet=spec,
                         **distill)  # fmt: skip
        recalibrate(model, self._images())  # the widest subnet's statistics, for the supernet's own row
        return model

    def step_model(self, model: nn.Module, step: int) -> nn.Module:
        """Every target is cut from the supernet (the base, without one), not from the previous target's model."""
        supernet = self.run.dir / checkpoint_file("supernet")
        return load_detector(supernet if supernet.is_file() else self.run.dir / checkpoint_file("base"))

    def prune(self, model: nn.Module, step: int, steps: int, base_widths: dict[str, int], imgsz: int) -> float:
        """The cut, then the cut model's own BatchNorm statistics, as the search scored it: the step's pruned metric
        is the candidate's score (on the whole validation split)."""
        reached = super().prune(model, step, steps, base_widths, imgsz)
        recalibrate(model, self._images())
        return reached

    def target_widths(self, model, groups, rules, step, steps, base_widths) -> dict[nn.Conv2d, int]:
        """The widths the search chose for the step's target (the search runs, or goes on, at the first step that
        needs it)."""
        names = module_names(model)
        by_name = {n: m for m, n in names.items()}
        state = read_json(self.run.dir / SEARCH_FILE)
        ranks = {by_name[n]: r for n, r in state["ranks"].items()}
        roots = {convs[0] for convs in (out_convs(g) for g in groups) if convs and convs[0] in ranks}
        order = {c: torch.tensor(ranks[c][::-1]) for c in roots}  # least important first, as ``cut_copy`` cuts
        self._ranking = FixedRanking({c: channel_scores(r) for c, r in ranks.items()})
        space = Space(self, model, groups, rules, base_widths, state, order)
        if len(state["chosen"]) < len(self.targets):
            space.search()
        target = self.targets[step - 1]
        return space.widths(state["chosen"][f"{target:g}"]["widths"])

    def goal_reached(self, row: dict[str, Any]) -> bool:
        """Time each target's checkpoint against the base, once; the run goes on to every target."""
        if row.get("phase") != self.step_phase or not row.get("step") or row.get("status") != "kept":
            return False
        k = row["step"]
        if not any(e["step"] == k for e in self.state["steps"]):
            target = self.targets[k - 1]
            base_ms, ms = self._step_ms(k, row["checkpoint"])
            self.state["steps"].append({"step": k, "step_target": target, "base_ms": base_ms, "ms": ms,
                                        "speedup": base_ms / ms, "met": base_ms / ms >= target,
                                        "checkpoint": row["checkpoint"]})  # fmt: skip
            write_json(self.run.dir / SPEED_TARGET_FILE, self.state)
            print(f"step {k}/{len(self.targets)}    speed-up {base_ms / ms:.2f}x measured against the base (target "
                  f"{target:.2f}x): {'met' if base_ms / ms >= target else 'not met'}", flush=True)  # fmt: skip
        return False

    def summary(self, run: Any, summary: dict[str, Any]) -> dict[str, Any]:
        """Per target: its step, checkpoint and measured speed-up; the search: candidates scored, generations and
        its seconds (the timing per step is the speed target's, in ``speed_target.json``)."""
        state, search = read_json(run.dir / SPEED_TARGET_FILE), read_json(run.dir / SEARCH_FILE)
        steps = {e["step"]: e for e in state["steps"]}
        targets = [{"target": t, **steps.get(k, {"step": k})} for k, t in enumerate(state["targets"], 1)]
        return {"search": {"targets": targets, "base_ms": state["base_ms"], "floor_ms": state["floor_ms"],
                           "candidates": sum(len(g["candidates"]) for g in search["generations"]),
                           "generations": len(search["generations"]) - 1, "seconds": search.get("seconds"),
                           "supernet_epochs": self.settings["supernet_epochs"]}}  # fmt: skip


def channel_scores(ranked: list[int]) -> torch.Tensor:
    """Scores of a conv's channels from its ranking (best first): the best scores highest."""
    scores = torch.zeros(len(ranked))
    scores[torch.tensor(ranked)] = torch.arange(len(ranked), 0, -1, dtype=torch.float)
    return scores


@torch.no_grad()
def recalibrate(model: nn.Module, images: list[np.ndarray]) -> None:
    """Set every BatchNorm's statistics to those of ``model`` on ``images`` (a subnet's own, not the supernet's mix
    of every subnet's)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average over the batches
    model.train()
    batch = torch.from_numpy(np.concatenate(images)).to(next(model.parameters()).device)
    model(batch)
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum
    model.eval()


class Space:
    """One search over one supernet (``model``, prunable form): candidates, their scores and predicted speed-ups,
    the generations, and the choice per target, kept in ``search.json``."""

    def __init__(self, method: SearchMethod, model: nn.Module, groups: list[Any], rules: WidthRules,
                 base_widths: dict[str, int], state: dict[str, Any], order: dict[nn.Conv2d, torch.Tensor]) -> None:
        self.method, self.model, self.rules, self.state, self.order = method, model, rules, state, order
        run, settings = method.run, method.settings
        units = {"|".join(u.key): u for u in method._units(model, groups, rules, base_widths)}
        self.units = [units["|".join(u["key"])] for u in state["units"]]
        self.choices = [u["choices"] for u in state["units"]]
        self.path, self.folder = run.dir / SEARCH_FILE, run.dir / SEARCH_DIR
        self.imgsz, self.yardstick = settings["imgsz"], method.adapter.task.yardstick
        self.seed = settings["seed"]
        self.population, self.generations = settings["search_population"], settings["search_generations"]
        self.targets = method.targets
        self.floor_share = method.state["floor_ms"] / method.state["base_ms"]
        self.lm: Any = None

    def widths(self, unit_widths: list[int]) -> dict[nn.Conv2d, int]:
        """Every prunable conv's width, from one width per searched layer, through the run's width rules."""
        return self.rules.apply({c: w for u, w in zip(self.units, unit_widths) for c in u.convs})

    def speedup(self, unit_widths: list[int]) -> float:
        """The speed-up over the base the latency model predicts (raw widths: the rules move them by a rounding),
        never beyond the floor's as measured: summed single-layer savings of a deep cut can pass the whole latency
        before the model has learnt how much less cuts made together save (a uniform cut at 1.5x came out at the
        floor, 3.4x, when a negative prediction read as too slow)."""
        share = self.lm.predict(keyed(self.units, {c: w for u, w in zip(self.units, unit_widths) for c in u.convs}))
        return 1 / max(share, self.floor_share)

    def search(self) -> None:
        """Generation 0, then the generations left (each written as it ends), then the finalists timed."""
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="yolo_prune_search_") as tmp:
            self.lm, _ = self.method._latency_model(self.model, self.units, self.rules, self.order, 1, Path(tmp))
            self.data = self._subset()
            gens = self.state["generations"]
            if not gens:
                self._generation(0, self._first(Path(tmp)))
                uniform = [c for c in gens[0]["candidates"] if c["origin"] == "uniform"]
                self._measure(uniform, Path(tmp))  # the latency model's correction, before it decides what breeds
                write_json(self.path, self.state)
            for g in range(len(gens), self.generations + 1):
                self._generation(g, self._children(random.Random(f"{self.seed}-{g}")))
            self._choose(Path(tmp))
        self.state["seconds"] = (self.state.get("seconds") or 0) + time.perf_counter() - started
        write_json(self.path, self.state)

    def _candidates(self) -> list[dict[str, Any]]:
        return [c for g in self.state["generations"] for c in g["candidates"]]

    def _first(self, tmp: Path) -> list[dict[str, Any]]:
        """Uniform widths meeting each target (DepGraph's choice at that speed), the speed target's cut for each, and
        random subnets."""
        rng = random.Random(f"{self.seed}-0")
        seeds = self._speed_target(tmp)  # first: its timed proposals teach the latency model how cuts add up
        seeds += [{"widths": self._uniform(t), "origin": "uniform"} for t in self.targets]
        while len(seeds) < self.population + 2 * len(self.targets):
            seeds.append({"widths": self._repair([rng.choice(ch) for ch in self.choices], rng), "origin": "random"})
        return seeds

    def _speed_target(self, tmp: Path) -> list[dict[str, Any]]:
        """Each target's cut as the speed target (``--method latency``) makes it in one step, on the supernet: its
        table of what halving each layer costs in time and in outputs, then its proposals timed against the base;
        each kept with its measured speed-up (where it lands, in the plot, and parents for the search)."""
        scores = {c: channel_scores(o.flip(0).tolist()) for c, o in self.order.items()}
        _, probed = self.method._table(self.model, self.units, self.rules, scores, self.order, self.lm, {}, 1, tmp)
        seeds = []
        for t in self.targets:
            aim = t * (1 + MARGIN)
            chosen = choose_proposal(self.method._propose(self.model, self.units, probed, self.rules, self.lm, aim, 1,
                                                          tmp), t, aim)  # fmt: skip
            if chosen:
                seeds.append({"widths": [chosen["widths"][u.convs[0]] for u in self.units], "origin": "latency",
                              "measured_speedup": chosen["measured_speedup"]})  # fmt: skip
        return seeds

    def _uniform(self, target: float) -> list[int]:
        """Every layer at the same share of its width, the widest share predicted to meet ``target``."""
        lo, hi = 0.0, 1.0
        for _ in range(20):
            mid = (lo + hi) / 2
            if self.speedup(self._shared(mid)) >= target * (1 + MARGIN):
                lo = mid
            else:
                hi = mid
        return self._shared(lo)

    def _shared(self, share: float) -> list[int]:
        return [keep_count(u.width, share, self.method.settings["round_to"], u.floor) for u in self.units]

    def _repair(self, widths: list[int], rng: random.Random) -> list[int]:
        """``widths`` narrowed one layer at a time, at random, until the model predicts it meets the smallest
        target (the lowest bar a candidate must pass to be of use)."""
        widths = list(widths)
        index = [self._nearest(i, w) for i, w in enumerate(widths)]
        while self.speedup(widths) < self.targets[0] * (1 + MARGIN):
            narrower = [i for i, k in enumerate(index) if k < len(self.choices[i]) - 1]
            if not narrower:
                break
            i = rng.choice(narrower)
            index[i] += 1
            widths[i] = self.choices[i][index[i]]
        return widths

    def _nearest(self, i: int, width: int) -> int:
        return min(range(len(self.choices[i])), key=lambda k: abs(self.choices[i][k] - width))

    def _speedup_of(self, c: dict[str, Any]) -> float:
        """A candidate's speed-up as measured where timed, else as the latency model, corrected by every timing so
        far, predicts it (less the margin a prediction needs)."""
        return c.get("measured_speedup", self.speedup(c["widths"]) / (1 + MARGIN))

    def _best(self, target: float, count: int) -> list[dict[str, Any]]:
        """The ``count`` best-scoring candidates that meet ``target`` but not the next larger target, where any do
        (each target its own model: a faster one scoring better on the subset is the subset's noise, or the larger
        target's model), else of all that meet it."""
        speeds = {id(c): self._speedup_of(c) for c in self._candidates()}
        fits = [c for c in self._candidates() if speeds[id(c)] >= target]
        above = [t for t in self.targets if t > target]
        own = [c for c in fits if speeds[id(c)] < above[0]] if above else fits
        return sorted(own or fits, key=lambda c: -c["metric"])[:count]

    def _children(self, rng: random.Random) -> list[dict[str, Any]]:
        """Half by mutation, half by crossover of two parents of one target (SPOS), each repaired."""
        parents = {t: self._best(t, PARENTS) for t in self.targets}
        pools = [p for p in parents.values() if p]
        if not pools:
            return []
        seen = {tuple(c["widths"]) for c in self._candidates()}
        children: list[dict[str, Any]] = []
        for attempt in range(self.population * 10):
            if len(children) >= self.population:
                break
            pool = rng.choice(pools)
            if attempt % 2 == 0 or len(pool) < 2:
                widths = [self.choices[i][min(max(self._nearest(i, w) + rng.choice((-1, 1)), 0),
                                              len(self.choices[i]) - 1)] if rng.random() < MUTATION else w
                          for i, w in enumerate(rng.choice(pool)["widths"])]  # fmt: skip
                how = "mutation"
            else:
                a, b = rng.sample(pool, 2)
                widths, how = [rng.choice(pair) for pair in zip(a["widths"], b["widths"])], "crossover"
            widths = self._repair(widths, rng)
            if tuple(widths) not in seen:
                seen.add(tuple(widths))
                children.append({"widths": widths, "origin": how})
        return children

    def _generation(self, g: int, members: list[dict[str, Any]]) -> None:
        """Score ``members`` (each its widths, origin and any measured speed-up) and write the generation."""
        candidates = [{**m, "predicted_speedup": self.speedup(m["widths"]), "metric": self._score(m["widths"])}
                      for m in members]  # fmt: skip
        self.state["generations"].append({"generation": g, "candidates": candidates})
        write_json(self.path, self.state)
        best = {f"{t:g}x": round(b[0]["metric"], 3) for t in self.targets for b in [self._best(t, 1)] if b}
        print(f"search      generation {g}/{self.generations}: {len(candidates)} candidates scored; best "
              f"{self.method.adapter.task.metric_labels[self.yardstick]} per target {best}", flush=True)  # fmt: skip

    def _score(self, unit_widths: list[int]) -> float:
        """The candidate cut from the supernet, its BatchNorm statistics its own, scored on the validation subset."""
        cut = cut_copy(self.model, self.method._graph, self.widths(unit_widths), self.order)
        recalibrate(cut, self.method._images())
        s = self.method.settings
        return evaluate_map(cut, str(self.data), self.imgsz, s["batch"], s.get("device"), self.folder / "val")[
            self.yardstick]

    def _subset(self) -> Path:
        """A data yaml whose val split is up to ``VAL_IMAGES`` of the run's validation images, evenly spaced (a
        classification data set, read as folders, is scored on all of them)."""
        import yaml

        run = self.method.run
        if self.method.adapter.task.folder_data:
            return Path(run.data)
        view = yaml.safe_load(Path(run.data).read_text())
        root = Path(view["path"])
        vals = view["val"] if isinstance(view["val"], list) else [view["val"]]
        images = sorted(p for v in vals for p in (root / v).rglob("*") if p.is_file())
        step = max(len(images) / VAL_IMAGES, 1.0)
        picked = [images[int(i * step)] for i in range(min(VAL_IMAGES, len(images)))]
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "val.txt").write_text("".join(f"{p}\n" for p in picked))
        path = self.folder / "data.yaml"
        write_yaml(path, {**view, "val": str((self.folder / "val.txt").absolute())})
        return path

    def _measure(self, candidates: list[dict[str, Any]], tmp: Path) -> None:
        """Time ``candidates`` (those not timed yet) against the base in one interleaved timing; the latency model
        learns each, and each keeps its measured speed-up."""
        todo = [c for c in candidates if "measured_speedup" not in c]
        if not todo:
            return
        base = self.method._onnx(None)
        cuts = [self.widths(c["widths"]) for c in todo]
        paths = [export_like(base, cut_copy(self.model, self.method._graph, w), tmp / f"c{i}.onnx")
                 for i, w in enumerate(cuts)]  # fmt: skip
        base_ms, *times = self.method._time([base, *paths], 1, "search")
        for c, widths, ms in zip(todo, cuts, times):
            self.lm.learn(1, "search", keyed(self.units, widths), ms / base_ms)
            c["measured_speedup"] = base_ms / ms
        self.method._save_model(self.lm)

    def _choose(self, tmp: Path) -> None:
        """Each target's best candidates timed against the base, in up to ``ROUNDS`` rounds (each round's timings
        correct the predictions of the next); the target takes the best-scoring that measured it (its own, as
        ``_best`` prefers), else the fastest timed."""
        for t in self.targets:
            for _ in range(ROUNDS):
                self._measure(self._best(t, TIMED), tmp)
                if any(c.get("measured_speedup", 0) >= t for c in self._best(t, TIMED)):
                    break
            timed = [c for c in self._candidates() if "measured_speedup" in c]
            met = [c for c in timed if c["measured_speedup"] >= t]
            own = [c for c in met if all(c["measured_speedup"] < u for u in self.targets if u > t)]
            chosen = max(own or met, key=lambda c: c["metric"]) if met else max(timed, key=self._speedup_of)
            self.state["chosen"][f"{t:g}"] = {k: chosen[k] for k in ("widths", "metric", "measured_speedup")}
        for c in self._candidates():  # the plot's latency axis: the model's last word, or the measurement
            c["predicted_speedup"] = self.speedup(c["widths"])
        write_json(self.method.run.dir / SPEED_TARGET_FILE, self.method.state)


__all__ = ["FixedRanking", "SearchMethod", "channel_scores", "recalibrate"]
