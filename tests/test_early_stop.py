"""Early stop with rollback on a model that really detects: the step that crosses --max-map-drop is logged as
rejected, the run stops there, and the final model is the last step that stayed within the limit."""

import json

from yolo_prune import prune
from yolo_prune.checkpoint import load_detector
from yolo_prune.evaluation import layer_widths

SETTINGS = dict(imgsz=128, batch=8, workers=0, device="cpu", iterative_steps=4, target_prune_rate=0.3, epochs=0,
                latency_runs=2, latency_warmup=0, verbose=False)  # fmt: skip


def test_crossing_step_is_rejected_and_the_last_good_step_is_final(trained_model, shapes128_data_yaml, tmp_path):
    data = str(shapes128_data_yaml)
    free = prune(model=str(trained_model), data=data, max_map_drop=1.0, project=str(tmp_path), name="free", **SETTINGS)
    drops = [r["map_drop"] for r in free.steps]
    assert free.steps[0]["map50_95"] > 0.05  # the fixture detects, so pruning has something to lose
    # the first step after which pruning costs more: a limit between the two drops keeps k and rejects k + 1
    k = next(i for i in range(1, len(drops) - 1) if drops[i + 1] > drops[i])
    limit = (drops[k] + drops[k + 1]) / 2

    stopped = prune(model=str(trained_model), data=data, max_map_drop=limit, project=str(tmp_path), name="stop",
                    **SETTINGS)  # fmt: skip
    rows = stopped.steps
    assert [r["step"] for r in rows] == list(range(k + 2))
    assert [r["status"] for r in rows] == ["kept"] * (k + 1) + ["rejected"]
    assert rows[-1]["checkpoint"] == "" and rows[-1]["map_drop"] > limit
    assert stopped.summary["final_step"] == k
    final = load_detector(stopped.final_pt)
    assert layer_widths(final) == layer_widths(load_detector(stopped.run_dir / rows[k]["checkpoint"]))
    assert stopped.summary["final"]["map50_95"] == rows[k]["map50_95"]
    assert stopped.summary["final"]["macs"] == rows[k]["macs"] > rows[k + 1]["macs"]

    resumed = prune(resume=str(stopped.run_dir))  # a stopped run resumes to the same end, adding no step
    assert json.loads((stopped.run_dir / "steps.json").read_text()) == rows
    assert layer_widths(load_detector(resumed.final_pt)) == layer_widths(final)
