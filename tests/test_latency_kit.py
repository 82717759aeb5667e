"""A speed target for a device yolo-prune cannot run on (--latency-table): the first run writes a kit and stops
before any pruning; the kit's script times it in a bare interpreter (yolo-prune, torch, Ultralytics hidden); the second
run meets the target on those timings, says its speed-ups are predicted, and writes a verify kit; a kit from another
model or with a model missing is refused, and so are settings a kit cannot serve."""

import json
import re
import subprocess
import sys
import zipfile

import pytest
import yaml

from yolo_prune.cli import main

ARGS = ["--model", "yolov8n.yaml", "--imgsz", "64", "--target-speedup", "1.2", "--iterative-steps", "2", "--epochs",
        "0", "--workers", "0", "--device", "cpu", "--latency-threads", "1", "--compare-runtimes", "false", "--quiet"]


# This venv has yolo-prune (editable), torch and Ultralytics installed: hidden, the script runs as on a device without.
DEVICE = """import runpy, sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("yolo_prune", "torch", "torchvision", "ultralytics", "torch_pruning", "onnx"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Absent())
sys.argv = ["time_models.py", *sys.argv[1:]]
runpy.run_path("time_models.py", run_name="__main__")
"""


def time_kit(folder):
    """What a user runs on the device: the kit's own script, in an isolated interpreter (not this checkout's path)
    where yolo-prune, torch, Ultralytics and onnx cannot be imported: numpy and the runtime's package only."""
    done = subprocess.run([sys.executable, "-I", "-c", DEVICE, "--runs", "3", "--warmup", "1"], cwd=folder,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    timings = json.loads((folder / "timings.json").read_text())
    ms = timings["median_ms"]
    assert ("x faster on this device" in done.stdout) == ("final" in ms)  # a verify kit answers on the spot
    return timings


@pytest.mark.parametrize("provider", ["cpu", "ncnn"])
def test_a_kit_is_written_timed_on_the_device_and_read_back(provider, tiny_data_yaml, tmp_path, capsys,
                                                             monkeypatch):  # fmt: skip
    kit, project = tmp_path / "kit", tmp_path / "runs"
    monkeypatch.chdir(tmp_path)  # the kit named relative to here: the run records where it is
    args = [*ARGS, "--data", str(tiny_data_yaml), "--project", str(project), "--latency-provider", provider,
            "--latency-table", "kit"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "nothing was pruned" in out and "python time_models.py" in out and "run this same command again" in out
    assert not project.exists()  # stopped before the run directory
    manifest = json.loads((kit / "kit.json").read_text())
    assert {"base", "floor", "all_layers_50"} <= set(manifest["models"]) and len(manifest["models"]) > 10
    assert set(manifest["what"]) == set(manifest["models"]) and manifest["imgsz"] == 64
    layers = [w for w in manifest["what"].values() if w["cut"] == "one layer"]
    assert all(w["width"] < w["base_width"] and w["key"] in manifest["what"]["all_layers_50"]["widths"] for w in layers)
    assert sorted(f.name for f in kit.iterdir()) == ["README.txt", "kit.json", "models.zip", "time_models.py"]
    files = zipfile.ZipFile(kit / "models.zip").namelist()
    assert set(manifest["models"].values()) <= {f.rsplit("/", 1)[0] for f in files} | set(files)
    assert all(not f.endswith(".onnx") for f in files) == (provider == "ncnn")  # ncnn's kit holds ncnn models only
    size = float(re.search(r"\(([\d.]+) MB\)", out)[1])  # placeholder weights: yolov8n's 51 models zip to ~7 MB
    assert size == pytest.approx(sum(f.stat().st_size for f in kit.iterdir()) / 1e6, abs=0.1) and size < 15
    timings = time_kit(kit)
    assert set(timings["median_ms"]) == set(manifest["models"]) and timings["clock"] == "thread CPU time"
    assert timings["device"]["runtime_version"] != "unknown"

    assert main(args) == 0
    out = capsys.readouterr().out
    assert "predicted for the device" in out and "kit/verify" in out.replace(str(kit), "kit")
    run = next(project.iterdir())
    state = json.loads((run / "speed_target.json").read_text())
    assert state["predicted"] and state["device"]["kit"] == str(kit) and state["met_at_step"] is not None
    assert state["base_ms"] == pytest.approx(timings["median_ms"]["base"])
    model = json.loads((run / "latency_model.json").read_text())
    assert [f["what"] for f in model["fits"]] == ["device: every layer cut"] * 3  # fitted on times, not guesses
    report = (run / "report.md").read_text()
    assert f"predicted from the device's timings (kit {kit}), not measured here" in report
    assert "Predicted, not measured" in report and "predicted speed-up" in report
    assert yaml.safe_load((run / "settings.yaml").read_text())["latency_table"] == str(kit)  # --resume finds it
    assert json.loads((kit / "verify" / "kit.json").read_text())["fingerprint"] == manifest["fingerprint"]
    verify = time_kit(kit / "verify")  # this machine stands in for the device
    measured = verify["median_ms"]["base"] / verify["median_ms"]["final"]
    assert measured >= 0.9 * 1.2 and measured >= 0.8 * state["steps"][-1]["speedup"]  # the prediction held here
    if provider == "cpu":  # the same ONNX files make an openvino kit: the script's openvino path, in seconds
        manifest = json.loads((kit / "verify" / "kit.json").read_text())
        (kit / "verify" / "kit.json").write_text(json.dumps({**manifest, "runtime": "openvino"}))
        assert time_kit(kit / "verify")["runtime"] == "openvino"


def test_a_kit_for_another_model_settings_or_exporter_or_with_a_time_missing_is_refused(tiny_data_yaml, tmp_path,
                                                                                          capsys):
    kit = tmp_path / "kit"
    args = [*ARGS, "--data", str(tiny_data_yaml), "--project", str(tmp_path / "runs"), "--latency-table", str(kit)]
    assert main(args) == 0
    timings = time_kit(kit)
    capsys.readouterr()
    for other in ([a if a != "yolov8n.yaml" else "yolo11n.yaml" for a in args], [*args, "--round-to", "16"]):
        assert main(other) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "was written for another model or other settings" in err[0]
    manifest = json.loads((kit / "kit.json").read_text())
    (kit / "kit.json").write_text(json.dumps({**manifest, "keys": {}}))  # as if the exporter had changed since
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no model shaped as this run exports it" in err[0]
    (kit / "kit.json").write_text(json.dumps(manifest))
    del timings["median_ms"]["floor"]
    (kit / "timings.json").write_text(json.dumps(timings))
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no time for floor" in err[0]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("extra, message", [
    (["--method", "depgraph"], "--latency-table times a speed target's models on a device"),
    (["--latency-provider", "tensorrt"], "--latency-table writes models for cpu, openvino or ncnn"),
])  # fmt: skip
def test_settings_a_kit_cannot_serve_are_refused_before_work(extra, message, tiny_data_yaml, tmp_path, capsys):
    args = [a for a in ARGS if a not in ("--target-speedup", "1.2")] if extra[0] == "--method" else ARGS
    assert main([*args, "--data", str(tiny_data_yaml), "--project", str(tmp_path), "--latency-table",
                 str(tmp_path / "kit"), *extra]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_is_not_a_kit_is_left_alone(tiny_data_yaml, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("the user's")
    (tmp_path / "file").write_text("the user's")
    for folder in ("mine", "file"):
        assert main([*ARGS, "--data", str(tiny_data_yaml), "--project", str(tmp_path / "runs"), "--latency-table",
                     str(tmp_path / folder)]) == 2  # fmt: skip
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "give a new or empty folder for the kit" in err[0], err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["file", "mine", "notes.txt"]
