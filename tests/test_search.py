"""The one-shot width search (``--method search``): a supernet trained once, per-layer widths searched under the
latency model, one stock model per target, each cut as the search scored it; resumed where it stopped (in the
search and between targets). That a supernet's subnet computes what the cut model computes is a row of the
conformance matrix (``test_conformance``)."""

import json

import pytest
import yaml

from yolo_prune import prune
from yolo_prune.methods.search import SearchMethod, Space
from yolo_prune.settings import resolve_settings

TARGETS = [1.3, 1.6]
QUICK = dict(imgsz=128, batch=4, workers=0, device="cpu", epochs=1, verbose=False, latency_threads=1, latency_runs=20,
             latency_warmup=2, compare_runtimes=False, max_map_drop=1.0)  # fmt: skip
SEARCH = dict(supernet_epochs=1, search_population=4, search_generations=2)


class Stop(Exception):
    """Raised by a test to interrupt a run where a user's Ctrl-C could."""


@pytest.fixture(scope="module")
def searched(trained_model, shapes128_data_yaml, tmp_path_factory):
    """The trained model searched for two targets, interrupted after the search's first generation after the first,
    resumed, interrupted again after the first target's step, and resumed to the end. Returns the result, and the
    search state as it was at the first interruption."""
    project = tmp_path_factory.mktemp("search")
    original_generation, original_goal = Space._generation, SearchMethod.goal_reached

    def stop_after_generation_1(self, g, members):
        if g == 2:
            raise Stop
        original_generation(self, g, members)

    def stop_after_step_1(self, row):
        if row.get("step") == 1 and not getattr(SearchMethod, "stopped", False):
            original_goal(self, row)
            SearchMethod.stopped = True
            raise Stop
        return original_goal(self, row)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Space, "_generation", stop_after_generation_1)
        with pytest.raises(Stop):
            prune(model=str(trained_model), data=str(shapes128_data_yaml), target_speedup=TARGETS,
                  project=str(project), **SEARCH, **QUICK)  # fmt: skip
    run_dir = project / "exp"
    interrupted = json.loads((run_dir / "search.json").read_text())
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SearchMethod, "goal_reached", stop_after_step_1)
        with pytest.raises(Stop):
            prune(resume=str(run_dir))
        mp.delattr(SearchMethod, "stopped")
    steps_before = json.loads((run_dir / "steps.json").read_text())
    return prune(resume=str(run_dir)), interrupted, steps_before


def read(run, name):
    text = (run.run_dir / name).read_text()
    return yaml.safe_load(text) if name.endswith(".yaml") else json.loads(text)


def test_several_targets_select_the_search_with_one_step_each():
    s = resolve_settings(None, {"target_speedup": [2, 1.5, 3]}, notify=False)
    assert s["method"] == "search" and s["target_speedup"] == [1.5, 2, 3] and s["iterative_steps"] == 3
    one = resolve_settings(None, {"target_speedup": [2]}, notify=False)
    assert one["method"] == "latency" and one["target_speedup"] == 2


def test_the_search_resumes_where_it_stopped(searched):
    run, interrupted, steps_before = searched
    search = read(run, "search.json")
    assert [g["generation"] for g in interrupted["generations"]] == [0, 1]
    assert [g["generation"] for g in search["generations"]] == [0, 1, 2]  # went on, did not start again
    scored = [[(c["widths"], c["metric"]) for c in g["candidates"]] for g in search["generations"][:2]]
    assert scored == [[(c["widths"], c["metric"]) for c in g["candidates"]] for g in interrupted["generations"]]
    assert [r["phase"] for r in steps_before] == ["base", "supernet", "prune"]  # stopped after the first target
    rows = read(run, "steps.json")
    assert [r["phase"] for r in rows] == ["base", "supernet", "prune", "prune"]
    assert rows[2] == steps_before[2]  # the first target's step was not done again


def test_each_target_gets_its_own_stock_model_within_0_9_of_it_as_measured(searched, run_python):
    run = searched[0]
    state, rows = read(run, "speed_target.json"), read(run, "steps.json")
    assert state["targets"] == TARGETS
    assert [s["step"] for s in state["steps"]] == [1, 2]
    for s, target in zip(state["steps"], TARGETS):
        assert s["step_target"] == target
        assert s["speedup"] >= 0.9 * target, s
    assert rows[3]["macs"] < rows[2]["macs"]  # the faster target is the smaller model
    for row in rows[2:]:
        pt = run.run_dir / row["checkpoint"]
        assert pt.with_suffix(".onnx").is_file()
        code = (f"from ultralytics import YOLO; m = YOLO({str(pt)!r}); "
                f"print(sum(p.numel() for p in m.model.parameters()))")  # fmt: skip
        assert int(run_python(code).strip()) == row["params"]  # a stock Ultralytics model, as it was saved


def test_every_target_is_cut_from_the_supernet_as_the_search_scored_it(searched):
    """The step's pruned metric (the cut, its BatchNorm statistics recalibrated, on the whole validation split,
    which here is smaller than the search's subset) is the chosen candidate's score: the real cut is the searched
    subnet, and the second target is cut from the supernet, not from the first target's fine-tuned model."""
    run = searched[0]
    search, rows = read(run, "search.json"), read(run, "steps.json")
    assert rows[1]["phase"] == "supernet" and rows[1]["checkpoint"] == "weights/supernet.pt"
    for row, target in zip(rows[2:], TARGETS):
        assert row["map50_95_pruned"] == pytest.approx(search["chosen"][f"{target:g}"]["metric"], abs=1e-6)


def test_the_report_has_the_search_and_its_plot(searched):
    run = searched[0]
    text = run.report.read_text()
    assert "## Width search" in text and "2 of 2 targets measured met" in text
    for row in read(run, "steps.json")[2:]:  # each target's model after fine-tuning, by the run's deciding metric
        assert f"| {row['map50_95']:.3f} | {row['checkpoint']} |" in text
    plot = json.loads((run.run_dir / "plots" / "search.json").read_text())
    assert plot["png"] == "search.png" and (run.run_dir / "plots" / "search.png").is_file()
    summary = read(run, "summary.json")["search"]
    assert summary["generations"] == 2 and summary["candidates"] >= 8 and len(summary["targets"]) == 2
