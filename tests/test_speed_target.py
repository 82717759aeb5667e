"""Pruning for a measured speed-up (``--target-speedup``): a small run reaches its target by its own interleaved
measurement, an unreachable target is refused before any work with the reachable one, the floor and the per-layer
guidance in the report are the run's own numbers, and what the latency table times is what the real cut builds."""

import html
import json
import math
import re
import shutil

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn
import yaml

from yolo_prune import prune
from yolo_prune.checkpoint import load_detector
from yolo_prune.cli import main
from yolo_prune.errors import UserError
from yolo_prune.evaluation import layer_widths
from yolo_prune.export import export_like, export_model
from yolo_prune.latency import MIN_RUNS, attainable_speedup, step_timing
from yolo_prune.methods import make_method
from yolo_prune.methods.base import prunable_groups
from yolo_prune.methods.latency import LatencyMethod, cut_copy
from yolo_prune.methods.latency_model import MARGIN, OVERSHOOT, Probe, Ranking, choose_proposal, within_noise
from yolo_prune.report.speed import guidance_rows, speed_blocks, timing_rows
from yolo_prune.settings import resolve_settings
from yolo_prune.structure import ModelAdapter, split_widths
from yolo_prune.structure.model_yaml import stock_yaml

IMGSZ = 64
# One ONNX Runtime thread: timed by its CPU time, which the other work on a shared test machine does not disturb.
TIMING = dict(latency_threads=1, latency_runs=50, latency_warmup=5, compare_runtimes=False)
TINY = dict(imgsz=IMGSZ, batch=4, workers=0, device="cpu", epochs=1, verbose=False, **TIMING)
TARGET = 1.5


@pytest.fixture(scope="module")
def run(tiny_data_yaml, tmp_path_factory):
    project = tmp_path_factory.mktemp("speed")
    return prune(model="yolov8n.yaml", data=str(tiny_data_yaml), target_speedup=TARGET, iterative_steps=2,
                 project=str(project), **TINY)  # fmt: skip


def read(run, name):
    text = (run.run_dir / name).read_text()
    return yaml.safe_load(text) if name.endswith(".yaml") else json.loads(text)


def test_the_run_reaches_its_speed_target_by_its_own_measurement(run):
    settings, state, rows = read(run, "settings.yaml"), read(run, "speed_target.json"), read(run, "steps.json")
    assert settings["method"] == "latency"  # a speed target chose the method
    steps = state["steps"]
    assert [s["step"] for s in steps] == [r["step"] for r in rows[1:]]  # every step timed against the base
    assert all(s["met"] == (s["speedup"] >= TARGET) for s in steps)
    met = [s["step"] for s in steps if s["met"]]
    assert state["met_at_step"] == (met[0] if met else None)
    assert not met or met[0] == rows[-1]["step"]  # the run ends at the first step that meets the target
    # Each measurement is the run's own, interleaved with the base; timing noise may cost one a little.
    assert steps[-1]["speedup"] >= 0.9 * TARGET and run.summary["speedup"] >= 0.9 * TARGET
    assert run.summary["final"]["latency"]["clock"] == "cpu"
    assert run.summary["macs_ratio"] > 1


def test_widths_follow_the_width_rules_and_the_last_table(run):
    final = load_detector(run.final_pt)
    assert stock_yaml(final)[1] is None  # widths an Ultralytics yaml states: round_to 8, derived widths as derived
    layers, tables = read(run, "layers.json"), read(run, "latency_table.json")
    assert [t["step"] for t in tables] == [r["step"] for r in read(run, "steps.json")[1:]]
    last = tables[-1]
    assert last["layers"] and all(0 < r["probe_width"] < r["width"] for r in last["layers"])
    for r in last["layers"]:  # the final model holds the widths the last step chose
        assert layers["final"][r["layer"]] == r["chosen_stock_width"], r["layer"]
        assert r["floor"] <= r["chosen_width"] <= r["width"]
    chosen = [p for p in last["proposals"] if p["chosen"]]
    assert len(chosen) == 1 and chosen[0]["measured_speedup"] >= last["step_target"] * 0.9


def expected_verdict(steps: list[dict], met: int | None) -> str:
    """The report's verdict for these steps: the step that met the target and its speed-up, else the best one."""
    if met is not None:
        hit = next(s for s in steps if s["step"] == met)
        return f"Met at step {met}: {hit['speedup']:.2f}x measured against the base."
    best = max(steps, key=lambda s: s["speedup"])
    return f"Not met: the best step measured {best['speedup']:.2f}x (step {best['step']})."


def test_the_report_shows_the_floor_and_the_guidance_from_the_runs_files(run):
    state, summary = read(run, "speed_target.json"), read(run, "summary.json")
    md = (run.run_dir / "report.md").read_text()
    page_html = (run.run_dir / "report.html").read_text()
    assert 1 < state["floor_speedup"] == pytest.approx(state["base_ms"] / state["floor_ms"])
    for key in ("base_ms", "floor_ms", "floor_speedup", "target_speedup", "met_at_step"):
        assert summary["speed_target"][key] == state[key]
    attainable = attainable_speedup(state["base_ms"], state["floor_ms"], summary["macs_ratio"])
    assert summary["speed_target"]["attainable_speedup"] == pytest.approx(attainable)
    # Timing noise on a shared machine may leave a 2-step run just short of its target: the verdict says which.
    verdict = expected_verdict(state["steps"], state["met_at_step"])
    for page in (md, html.unescape(page_html)):
        assert f"the model runs in {state['floor_ms']:.2f} ms against the base's {state['base_ms']:.2f} ms" in page
        assert f"no pruning of this model reaches more than {state['floor_speedup']:.2f}x here" in page
        assert f"would run {attainable:.2f}x faster" in page
        assert verdict in page
    guidance = guidance_rows(run.run_dir)
    first = read(run, "latency_table.json")[0]["layers"]
    by_layer = {g["layer"]: g for g in guidance}
    # Halving P3's output narrows the head's six class-branch convs too (yaml widths derive them from it).
    assert by_layer["model.15.cv2.conv"]["layers_narrowed"] == pytest.approx(7)
    assert all(g["output_change"] >= 0 for g in guidance) and any(g["output_change"] > 0 for g in guidance)
    assert {g["layer"] for g in guidance} == {r["layer"] for r in first}
    assert [g["saved_share"] for g in guidance] == sorted((r["saved_share"] for r in first), reverse=True)
    table = md[md.index("## Per-layer guidance"):]
    lines = [line for line in table.splitlines() if line.startswith("| model.")]
    assert len(lines) == len(guidance)
    top, layers = guidance[0], read(run, "layers.json")
    assert lines[0] == (f"| {top['layer']} | {layers['base'][top['layer']]} | {layers['final'][top['layer']]} | "
                        f"{top['saved_ms']:.2f} | {top['saved_share'] * 100:.1f}% | {top['output_change']:.3f} | "
                        f"{top['layers_narrowed']:.1f} | {top['importance_removed'] * 100:.1f}% |")  # fmt: skip


def test_the_verdict_says_met_or_not_met_from_the_steps(run, tmp_path):
    state = read(run, "speed_target.json")
    steps = state["steps"]
    for met_at in (steps[0]["step"], None):  # the same run's steps, once met at its first step and once never
        for s in steps:
            s["met"] = s["step"] == met_at
        (tmp_path / "speed_target.json").write_text(json.dumps({**state, "steps": steps, "met_at_step": met_at}))
        text = " ".join(b[1] for b in speed_blocks(tmp_path, run.summary) if b[0] == "p")
        assert expected_verdict(steps, met_at) in text and ("Not met" in text) == (met_at is None)


def test_a_step_takes_the_smallest_cut_near_its_aim_not_one_far_past_it():
    """The proposals of a real run's last step (yolov8n, 2x, benchmarks/results/speed_target): only the 468-channel
    cut measured the aim (2.06x), at 2.69x; 365 channels had measured 2.03x, which meets the step's 2x."""
    measured = {234: 1.789, 468: 2.694, 326: 1.894, 365: 2.026, 372: 2.003, 382: 2.037}
    proposals = [{"channels": n, "measured_speedup": x} for n, x in measured.items()]
    goal = 2.0
    assert choose_proposal(proposals, goal, goal * (1 + MARGIN))["channels"] == 365
    assert choose_proposal(proposals, 1.85, 1.85 * (1 + MARGIN))["channels"] == 326  # meets the goal, not the aim
    assert choose_proposal(proposals, 1.5, 1.5 * (1 + MARGIN))["channels"] == 234  # fewest channels that meet it
    assert choose_proposal(proposals, 2.5, 2.5 * (1 + MARGIN))["channels"] == 468  # past the aim, but nothing nearer
    assert choose_proposal(proposals, 3.0, 3.0 * (1 + MARGIN))["channels"] == 468  # none meets it: the fastest
    assert choose_proposal([], goal, goal) is None


def test_a_noisy_timing_ends_a_steps_search_only_once_it_meets_the_steps_goal():
    """CI's OpenVINO run (20 rounds, a noisy machine): a proposal timed 1.43x for a 1.65x aim, within twice its
    timing's error, ended the step's search and the run finished at 1.38x of its 1.6x. A proposal the timing cannot
    tell from the aim ends the search past the aim or between goal and aim, never short of the goal."""
    goal = 1.6
    aim = goal * (1 + MARGIN)
    assert not within_noise(1.43, aim, 0.07)  # short of the goal: another proposal, however noisy the timing
    assert within_noise(1.62, aim, 0.02) and within_noise(1.70, aim, 0.02)  # between goal and aim, or past it
    assert not within_noise(1.62, aim, 0.001) and not within_noise(1.80, aim, 0.02)  # the timing tells them apart
    assert within_noise(2.33, 2.06, 0.07) and not within_noise(1.86, 2.06, 0.07)  # yolov8m at 640 px, one cut


def test_an_unreachable_speedup_is_refused_before_any_work_with_the_reachable_one(tiny_data_yaml, tmp_path, capsys):
    project = tmp_path / "runs"
    code = main(["--model", "yolov8n.yaml", "--data", str(tiny_data_yaml), "--target-speedup", "100", "--imgsz",
                 str(IMGSZ), "--latency-threads", "1", "--latency-runs", "10", "--project", str(project)])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    found = re.fullmatch(r"error: target speed-up 100x is beyond this model's reach: .*the best reachable speed-up "
                         r"is (\d+\.\d\d)x", err[0])  # fmt: skip
    assert found, err[0]
    assert 1 < float(found.group(1)) < 100
    assert not project.exists() or not any(project.iterdir())  # no run directory: nothing was started


def test_an_unreachable_latency_is_refused_with_the_lowest_reachable(tiny_data_yaml, tmp_path):
    with pytest.raises(UserError, match=r"target latency 0.001 ms is beyond this model's reach: .*the lowest "
                                        r"reachable is \d+\.\d\d ms, a \d+\.\d\dx speed-up"):  # fmt: skip
        prune(model="yolov8n.yaml", data=str(tiny_data_yaml), target_latency_ms=0.001, project=str(tmp_path),
              **TINY)  # fmt: skip
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(("given", "error"), [
    ({"method": "depgraph", "target_speedup": 2.0}, "target_speedup is a target of method latency, not of depgraph"),
    ({"method": "latency"}, "method latency needs a target"),
    ({"target_speedup": 2.0, "target_latency_ms": 5.0}, "either target_speedup or target_latency_ms, not both"),
    ({"target_speedup": 1.0}, "target_speedup must be > 1"),
    ({"target_latency_ms": -1.0}, "target_latency_ms must be > 0"),
    ({"target_speedup": 2.0, "latency_threads": 0}, "latency_threads must be >= 1"),
])  # fmt: skip
def test_speed_target_settings_are_checked(given, error):
    with pytest.raises(UserError, match=re.escape(error)):
        resolve_settings(overrides=given)


def test_a_speed_target_selects_the_latency_method_unless_another_is_named():
    assert resolve_settings(overrides={"target_latency_ms": 3.0})["method"] == "latency"
    assert resolve_settings(overrides={"method": "latency", "target_speedup": 2.0})["method"] == "latency"
    assert resolve_settings()["method"] == "depgraph"


@pytest.mark.parametrize("yaml_rules", [True, False])
def test_timed_copies_have_the_architecture_of_the_real_cut(yaml_rules, tmp_path):
    """The latency table times copies cut without Torch-Pruning's pruner, written into the graph of an exported model
    without exporting them: they must be the model the pruner builds, and the ONNX file the exporter writes."""
    settings = resolve_settings(overrides={"target_prune_rate": 0.4, "yaml_widths": yaml_rules,
                                           "round_to": 8 if yaml_rules else 1})  # fmt: skip
    model = load_detector("yolov8n.yaml", nc=3)
    method = make_method(settings, ModelAdapter.of(model, "model"))
    base = layer_widths(model)
    with method.adapter.prunable_form(model):
        graph, ignored, _ = method.graph(model, IMGSZ)
        groups = prunable_groups(graph, ignored)
        rules = method.width_rules(model, groups)
        widths = method.target_widths(model, groups, rules, 1, 1, split_widths(model, base))
        copy = cut_copy(model, graph, widths)
        template = export_model(cut_copy(model, graph, {}), tmp_path / "base.onnx", IMGSZ)
    assert layer_widths(model) == base  # the model itself is not cut
    real = load_detector("yolov8n.yaml", nc=3)
    real.load_state_dict(model.state_dict())
    method.prune(real, 1, 1, base, IMGSZ)
    assert {k: v.shape for k, v in copy.state_dict().items()} == {k: v.shape for k, v in real.state_dict().items()}
    assert layer_widths(copy) != base
    with torch.no_grad():
        assert copy.eval()(torch.zeros(1, 3, IMGSZ, IMGSZ))[0].shape == (1, 7, 84)
    like = export_like(template, copy, tmp_path / "like.onnx")
    exported = export_model(copy, tmp_path / "exported.onnx", IMGSZ)
    x = np.random.default_rng(0).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)
    outputs = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
               for p in (like, exported)]  # fmt: skip
    assert np.abs(outputs[0] - outputs[1]).max() <= 1e-4 * np.abs(outputs[1]).max()


def test_channels_go_where_time_is_dear_and_outputs_move_little():
    """Given a latency table, the cut takes the layers whose channels cost the most time first and the layers whose
    halving moved the outputs most last, a layer whose cut saved nothing only after every other channel (a noisy
    table may have missed its saving: the whole ranking reaches every floor), keeps every floor and lands on widths
    the width rules allow."""
    settings = resolve_settings(overrides={"target_speedup": 2.0})
    model = load_detector("yolov8n.yaml", nc=3)
    method = LatencyMethod(settings, ModelAdapter.of(model, "model"))
    with method.adapter.prunable_form(model):
        graph, ignored, _ = method.graph(model, IMGSZ)
        groups = prunable_groups(graph, ignored)
        rules = method.width_rules(model, groups)
        base = {n: m.out_channels for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
        units = [u for u in method._units(model, groups, rules, base)
                 if u.cuttable and (u.stock_factor == 2 or re.fullmatch(r"model\.\d+\.(cv2\.)?conv", u.layer))]
        by_layer = {u.layer: u for u in units}  # layers with widths of their own (C2f outputs and halves, convs)
        dear, free = by_layer["model.15.cv2.conv"], by_layer["model.7.conv"]  # 20 times the others' time; none
        touchy = by_layer["model.12.cv2.conv"]  # its halving moved the outputs 100 times as far
        probes = [Probe(u, 2e-3 if u is dear else 0.0 if u is free else 1e-4, 100.0 if u is touchy else 1.0)
                  for u in units]  # fmt: skip
        ranking = Ranking(probes, rules)
        n = ranking.first(0.05)
        widths, fewer, every = ranking.widths(n), ranking.widths(n - 1), ranking.widths(ranking.size)
        saving_only = ranking.widths(ranking.size - (free.width - free.floor))
        floors = rules.apply({c: u.floor for u in units for c in u.convs})
        assert widths == rules.apply(widths)  # already what the width rules give
    predicted = ranking.saving(widths)
    kept = {u.layer: widths[u.convs[0]] / u.width for u in units}
    assert ranking.saving(fewer) < 0.05 <= predicted < ranking.saving(every)  # the fewest channels that reach it
    assert kept[dear.layer] < min(k for layer, k in kept.items() if layer != dear.layer)
    assert kept[touchy.layer] == 1 > min(k for layer, k in kept.items() if layer not in (dear.layer, free.layer))
    assert kept[free.layer] == 1 and saving_only[free.convs[0]] == free.width  # a cut that saved nothing: last
    assert all(every[u.convs[0]] == floors[u.convs[0]] for u in units)  # the whole ranking: every layer at its floor
    assert all(widths[u.convs[0]] >= u.floor and widths[u.convs[0]] % 8 == 0 for u in units)
    assert math.isclose(predicted, sum(p.slope * (p.unit.width - widths[p.unit.convs[0]]) for p in probes))


def test_the_latency_model_is_built_once_and_later_steps_time_only_their_proposals(run):
    """HALP/NetAdapt-style: each layer's width timed once, at the first step; the second step times fewer models (its
    proposals and its checkpoint, each beside the base), and the model learns from every cut timed after it."""
    state, model = read(run, "speed_target.json"), read(run, "latency_model.json")
    tables = read(run, "latency_table.json")
    assert [t["step"] for t in tables] == [1, 2], "the run met its target at step 1: no later step to compare"
    assert model["built_at_step"] == 1 and model["context"] == 1
    per_step = step_timing(state["timing"])
    built = [t for t in state["timing"] if t["what"] == "latency model"]
    assert len(built) == 1 and built[0]["step"] == 1  # built once
    assert built[0]["models"] == 2 + sum(len(p) - 1 for p in model["points"].values())  # the base twice, each cut
    assert per_step[2]["models"] < per_step[1]["models"]
    assert {t["what"] for t in state["timing"] if t["step"] == 2} <= {"proposal", "checkpoint"}
    assert all(r["timed"] for r in tables[0]["layers"]) and not any(r["timed"] for r in tables[1]["layers"])
    for key, points in model["points"].items():  # each layer: its width saving nothing, narrower ones saving more
        widths, saved = zip(*sorted(points, reverse=True))
        assert saved[0] == 0 and list(saved) == sorted(saved) and len(points) >= 2, key
    # Every proposal and checkpoint timed after the build is one of the model's fits, with what it had predicted.
    proposals = [p for t in tables for p in t["proposals"]]
    assert len(model["fits"]) == len(proposals) + len(state["steps"])
    for p, fit in zip(proposals, [f for f in model["fits"] if f["what"] == "proposal"]):
        assert p["predicted_speedup"] == pytest.approx(1 / fit["predicted"])
        assert p["measured_speedup"] == pytest.approx(1 / fit["measured"])
        assert p["error"] == pytest.approx(p["measured_speedup"] / p["predicted_speedup"] - 1)
    for t in tables:  # a proposal that lands within OVERSHOOT beyond the step's aim ends the search
        aim = t["step_target"] * (1 + MARGIN)
        landed = [i for i, p in enumerate(t["proposals"]) if aim <= p["measured_speedup"] <= aim * (1 + OVERSHOOT)]
        assert landed in ([], [len(t["proposals"]) - 1]), t["proposals"]
    pairs = [(f["raw"], f["context"] - f["measured"]) for f in model["fits"]]
    assert model["correction"] == pytest.approx(sum(r * m for r, m in pairs) / sum(r * r for r, _ in pairs))


def test_each_timing_stays_within_the_step_budget_beyond_its_minimum_rounds(run):
    state = read(run, "speed_target.json")
    assert state["budget_s"] == 300  # the default
    for t in state["timing"]:
        assert MIN_RUNS <= t["runs"] <= TIMING["latency_runs"]
    assert run.summary["speed_target"]["timing_s"] == pytest.approx(sum(t["seconds"] for t in state["timing"]))


def test_a_spent_budget_times_each_model_the_minimum_rounds(tiny_data_yaml):
    given = {"target_speedup": 1.2, "imgsz": IMGSZ, **TIMING}
    model = load_detector("yolov8n.yaml", nc=3)
    method = make_method(resolve_settings(overrides={**given, "latency_budget": 1e-6}), ModelAdapter.of(model, "model"))
    state = method.check(model)["speed_target.json"]
    assert [(t["what"], t["models"], t["runs"]) for t in state["timing"]] == [("floor", 2, MIN_RUNS)]


def test_the_report_shows_the_time_spent_timing_and_the_latency_models_error(run):
    state, model = read(run, "speed_target.json"), read(run, "latency_model.json")
    steps = {r["step"]: r for r in read(run, "steps.json")}
    md = (run.run_dir / "report.md").read_text()
    rows = timing_rows(run.run_dir)
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert sum(r["seconds"] for r in rows) == pytest.approx(run.summary["speed_target"]["timing_s"])
    assert f"Timing took {run.summary['speed_target']['timing_s']:.0f} s in all" in md
    errors = [abs(f["predicted"] / f["measured"] - 1) for f in model["fits"]]
    assert f"its predicted speed-up was off by {sum(errors) / len(errors) * 100:.1f}% on average" in md
    for r in rows[1:]:
        step_errors = [abs(p["error"]) for t in read(run, "latency_table.json") if t["step"] == r["step"]
                       for p in t["proposals"]]  # fmt: skip
        error = f"{sum(step_errors) / len(step_errors) * 100:.1f}%" if step_errors else "n/a"
        assert (f"| {r['step']} | {r['seconds']:.1f} | {r['models']} | {r['runs']} | "
                f"{steps[r['step']]['seconds']:.1f} | {error} |") in md  # fmt: skip
    assert state["timing"][0]["what"] == "floor" and md.count("| floor | ") == 1


def test_a_resumed_run_reads_the_latency_model_and_does_not_build_it_again(run, tmp_path):
    """A run stopped after its first step: the resumed second step reads latency_model.json, as the first left it,
    and times only its proposals and its checkpoint."""
    folder = tmp_path / "stopped"
    shutil.copytree(run.run_dir, folder, symlinks=True)
    steps = read(run, "steps.json")[:2]
    (folder / "steps.json").write_text(json.dumps(steps))
    state = read(run, "speed_target.json")
    state.update(steps=state["steps"][:1], met_at_step=None, timing=[t for t in state["timing"] if t["step"] < 2])
    (folder / "speed_target.json").write_text(json.dumps(state))
    (folder / "latency_table.json").write_text(json.dumps(read(run, "latency_table.json")[:1]))
    model = read(run, "latency_model.json")
    model["fits"] = [f for f in model["fits"] if f["step"] < 2]
    (folder / "latency_model.json").write_text(json.dumps(model))
    for name in ("summary.json", "report.md", "report.html", "weights/final.pt", "weights/final.onnx",
                 "weights/step_02.pt", "weights/step_02.onnx"):  # fmt: skip
        (folder / name).unlink(missing_ok=True)
    resumed = prune(resume=str(folder))
    assert [r["step"] for r in resumed.steps] == [0, 1, 2]
    after = json.loads((folder / "latency_model.json").read_text())
    assert after["built_at_step"] == 1 and after["points"] == model["points"]  # read, not built again
    assert after["fits"][: len(model["fits"])] == model["fits"] and len(after["fits"]) > len(model["fits"])
    timing = json.loads((folder / "speed_target.json").read_text())["timing"]
    assert {t["what"] for t in timing if t["step"] == 2} <= {"proposal", "checkpoint"}
    assert step_timing(timing)[2]["models"] < step_timing(timing)[1]["models"]
