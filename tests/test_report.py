"""Reports from fabricated run directories: plotted series and table cells must equal the logged values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from yolo_prune import report

ROOT = Path(__file__).resolve().parents[1]
BASE_MACS, BASE_PARAMS = 8_700_000_000, 3_157_200
LATENCY_BASE = {"median_ms": 12.345, "p10_ms": 11.9, "p90_ms": 13.1, "mean_ms": 12.4, "std_ms": 0.4, "runs": 100,
                "batch": 1, "imgsz": 640, "provider": "CPUExecutionProvider"}  # fmt: skip
LATENCY_FINAL = {**LATENCY_BASE, "median_ms": 6.0, "p10_ms": 5.8, "p90_ms": 6.5}


def _row(step, phase, target, macs_ratio, params_ratio, map_p, map_ft, status="kept", seconds=61.5):
    base_map = 0.45
    return {
        "step": step, "phase": phase, "target_rate": target, "macs": int(BASE_MACS * macs_ratio),
        "params": int(BASE_PARAMS * params_ratio), "macs_ratio": macs_ratio, "params_ratio": params_ratio,
        "map50_95_pruned": map_p, "map50_pruned": map_p + 0.2, "map50_95": map_ft, "map50": map_ft + 0.2,
        "map_drop": base_map - map_ft, "seconds": seconds, "status": status,
        "checkpoint": "" if status == "rejected" else f"weights/step_{step:02d}.pt",
    }  # fmt: skip


def _depgraph_rows():
    return [
        _row(0, "base", 0.0, 1.0, 1.0, 0.45, 0.45, seconds=12.0),
        _row(1, "prune", 0.159, 0.71, 0.74, 0.31, 0.441),
        _row(2, "prune", 0.293, 0.52, 0.55, 0.22, 0.432),
        _row(3, "prune", 0.405, 0.38, 0.41, 0.15, 0.421, seconds=3725.0),
        _row(4, "prune", 0.5, 0.27, 0.30, 0.05, 0.2, status="rejected"),
    ]


def _summary(rows, gap=0.002, tol=0.01):
    base, final = rows[0], [r for r in rows if r["status"] == "kept"][-1]

    def side(r, pt, onnx, lat):
        batch16 = {**lat, "batch": 16, **{k: lat[k] * 10 for k in ("median_ms", "p10_ms", "p90_ms")}}
        return {
            "macs": r["macs"], "params": r["params"], "pt_bytes": pt, "onnx_bytes": onnx, "map50_95": r["map50_95"],
            "map50": r["map50"], "onnx_map50_95": r["map50_95"] - gap, "onnx_map50": r["map50"] - gap,
            "yolo_val_map50_95": r["map50_95"] + 0.011, "yolo_val_map50": r["map50"] + 0.007,
            "latency": lat, "latency_batch": batch16,
        }  # fmt: skip

    return {
        "base": side(base, 6_550_000, 12_800_000, LATENCY_BASE),
        "final": side(final, 2_700_000, 5_100_000, LATENCY_FINAL),
        "speedup": LATENCY_BASE["median_ms"] / LATENCY_FINAL["median_ms"],
        "macs_ratio": base["macs"] / final["macs"], "onnx_gap": gap, "onnx_tolerance": tol, "yolo_val_batch": 16,
    }  # fmt: skip


def _settings(method):
    return {
        "method": method, "model": "weights/yolov8n.pt", "data": "voc.yaml", "target_prune_rate": 0.5,
        "iterative_steps": 4, "max_map_drop": 0.2, "round_to": 8, "imgsz": 640, "epochs": 10,
        "command": f"yolo-prune --model weights/yolov8n.pt --data voc.yaml --method {method}",
        "versions": {"python": "3.11.2", "torch": "2.5.0", "ultralytics": "8.3.253", "torch_pruning": "1.6.1",
                     "onnxruntime": None, "yolo_prune": "0.1.0"},
    }  # fmt: skip


def _write(run: Path, settings, rows, layers=None, summary=None) -> Path:
    run.mkdir(parents=True)
    (run / "settings.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    (run / "steps.json").write_text(json.dumps(rows, indent=1))
    if layers is not None:
        (run / "layers.json").write_text(json.dumps(layers))
    if summary is not None:
        (run / "summary.json").write_text(json.dumps(summary))
    return run


LAYERS = {
    "base": {"model.0.conv": 16, "model.1.conv": 32, "model.2.cv0.conv": 16, "model.22.cv2.0.0.conv": 64},
    "final": {"model.0.conv": 8, "model.1.conv": 24, "model.2.cv0.conv": 8, "model.22.cv2.0.0.conv": 40},
}


# Module-scoped: the run directories are only read, and each report is rendered once, to keep the suite fast.
@pytest.fixture(scope="module")
def depgraph_run(tmp_path_factory):
    rows = _depgraph_rows()
    run = tmp_path_factory.mktemp("runs") / "depgraph"
    return _write(run, _settings("depgraph"), rows, LAYERS, _summary(rows, gap=0.034, tol=0.01))


@pytest.fixture(scope="module")
def depgraph_report(depgraph_run):
    return tuple(p.read_text() for p in report.write_report(depgraph_run))


@pytest.fixture
def interrupted_run(tmp_path):
    return _write(tmp_path / "interrupted", _settings("depgraph"), _depgraph_rows()[:3])


@pytest.fixture(scope="module")
def slim_run(tmp_path_factory):
    rows = [_row(0, "base", 0.0, 1.0, 1.0, 0.45, 0.45), _row(0, "sparse", 0.0, 1.0, 1.0, 0.44, 0.44),
            _row(1, "prune", 0.3, 0.6, 0.62, 0.30, 0.43)]  # fmt: skip
    run = _write(tmp_path_factory.mktemp("runs") / "slim", _settings("slim"), rows, LAYERS, _summary(rows))
    rng = np.random.default_rng(0)
    before = np.abs(rng.normal(1.0, 0.3, 500))
    after = np.concatenate([np.abs(rng.normal(0.0, 0.02, 300)), np.abs(rng.normal(0.8, 0.3, 200)), [np.nan]])
    np.save(run / "gamma_before.npy", before.astype(np.float32))
    np.save(run / "gamma_after.npy", after.astype(np.float32))
    lines = ["epoch,sr,mean_abs_gamma,share_below"]
    lines += [f"{e},{0.01 * (1 - 0.9 * e / 5):.6f},{1.0 - 0.15 * e:.4f},{0.1 * e:.3f}" for e in range(5)]
    (run / "sparsity.csv").write_text("\n".join(lines) + "\n")
    return run


@pytest.fixture(scope="module")
def slim_report(slim_run):
    md, page = report.write_report(slim_run)
    return md.read_bytes(), page.read_bytes(), {p.name: p.read_bytes() for p in (slim_run / "plots").iterdir()}


def _plot_data(run: Path, name: str) -> list[dict]:
    return json.loads((run / "plots" / f"{name}.json").read_text())["axes"]


def _md_tables(md: str) -> list[list[list[str]]]:
    """Every Markdown table as rows of stripped cells, header first, separator dropped."""
    tables, current = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-:") for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def _table(md: str, first_header: str) -> list[list[str]]:
    return next(t for t in _md_tables(md) if t[0][0] == first_header)


def _close(cell: str, value: float, unit: float = 1.0, digits: int = 3) -> bool:
    """A formatted cell equals the value to the precision it was printed with."""
    number = float(cell.split()[0].rstrip("%x"))
    return abs(number - value / unit) <= 0.5 * 10**-digits + 1e-12


# ------------------------------------------------------------------------------------------------------------ plots


def test_step_plots_hold_logged_values(depgraph_run):
    rows = json.loads((depgraph_run / "steps.json").read_text())
    kept = [r for r in rows if r["status"] == "kept"]
    rejected = [r for r in rows if r["status"] == "rejected"]
    paths = report.plot_steps(depgraph_run)
    assert list(paths) == ["map_vs_step", "map_vs_macs", "macs_params", "channels"]
    for path in paths.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    series = report.step_series(rows)
    assert series["map50_95"] == [r["map50_95"] for r in rows]
    assert series["status"] == [r["status"] for r in rows]

    for name, x in (("map_vs_step", "step"), ("map_vs_macs", "macs_ratio")):
        axes = _plot_data(depgraph_run, name)
        for ax, metric in zip(axes, ("map50_95", "map50")):
            s = ax["series"]
            assert s["after fine-tuning"] == {"x": [r[x] for r in kept], "y": [r[metric] for r in kept]}
            assert s["after pruning"] == {"x": [r[x] for r in kept], "y": [r[f"{metric}_pruned"] for r in kept]}
            assert s["rejected, after fine-tuning"] == {"x": [r[x] for r in rejected], "y": [r[metric] for r in rejected]}
            assert s["rejected, after pruning"]["y"] == [r[f"{metric}_pruned"] for r in rejected]
        assert axes[0]["series"]["stop line (base - max_map_drop)"]["y"] == [0.45 - 0.2] * 2
    assert _plot_data(depgraph_run, "map_vs_macs")[0]["xlabel"] == "remaining MACs (share of base)"

    size = _plot_data(depgraph_run, "macs_params")
    assert size[0]["ylabel"] == "remaining MACs (share of base)"
    assert size[0]["secondary_ylabel"] == "MACs (G)"
    assert size[1]["ylabel"] == "remaining params (share of base)"
    assert size[1]["secondary_ylabel"] == "params (M)"
    assert size[0]["series"]["kept"] == {"x": [r["step"] for r in kept], "y": [r["macs_ratio"] for r in kept]}
    assert size[1]["series"]["kept"]["y"] == [r["params_ratio"] for r in kept]
    assert size[0]["series"]["rejected (rolled back)"]["y"] == [r["macs_ratio"] for r in rejected]

    (channels,) = _plot_data(depgraph_run, "channels")
    assert channels["series"]["base"] == {"x": list(LAYERS["base"]), "y": list(LAYERS["base"].values())}
    assert channels["series"]["final"] == {"x": list(LAYERS["base"]), "y": list(LAYERS["final"].values())}


def test_slim_plots_hold_logged_values(slim_run, slim_report):
    assert {"gamma_hist.png", "sparsity.png", "channels.png", "gamma_hist.json"} <= set(slim_report[2])
    before, after = np.load(slim_run / "gamma_before.npy"), np.load(slim_run / "gamma_after.npy")
    (hist,) = _plot_data(slim_run, "gamma_hist")
    edges = hist["series"]["before sparse training"]["x"]
    for label, arr in (("before sparse training", before), ("after sparse training", after)):
        counts = hist["series"][label]["y"]
        finite = arr[np.isfinite(arr)]
        assert counts == np.histogram(finite.astype(np.float64), bins=np.asarray(edges))[0].tolist()
        assert sum(counts) == finite.size
    assert "NON-FINITE" in hist["title"] and "after 1" in hist["title"]

    csv_rows = [line.split(",") for line in (slim_run / "sparsity.csv").read_text().split()[1:]]
    axes = _plot_data(slim_run, "sparsity")
    for ax, col, key in zip(axes, (2, 3, 1), ("mean_abs_gamma", "share_below", "sr")):
        assert ax["series"][key] == {"x": [float(r[0]) for r in csv_rows], "y": [float(r[col]) for r in csv_rows]}

    # Two step-0 rows (base, then the sparse-trained model) are both drawn.
    (ax0, _) = _plot_data(slim_run, "map_vs_step")
    assert ax0["series"]["after fine-tuning"]["y"] == [0.45, 0.44, 0.43]


# ----------------------------------------------------------------------------------------------------------- report


def test_report_numbers_equal_logged_values(depgraph_run, depgraph_report):
    md, page = depgraph_report
    rows = json.loads((depgraph_run / "steps.json").read_text())
    summary = json.loads((depgraph_run / "summary.json").read_text())
    assert md.startswith("# Pruning report: yolov8n.pt (depgraph)\n")
    assert "yolo-prune --model weights/yolov8n.pt --data voc.yaml --method depgraph" in md
    assert "Interrupted" not in md

    result = {r[0]: r[1:] for r in _table(md, "")[1:]}
    b, f = summary["base"], summary["final"]
    assert result["MACs"] == ["8.70 G", f"{f['macs'] / 1e9:.2f} G", f"{summary['macs_ratio']:.2f}x fewer"]
    assert _close(result["params"][0], b["params"], 1e6, 2) and _close(result["params"][1], f["params"], 1e6, 2)
    assert result[".pt size"][:2] == ["6.55 MB", "2.70 MB"]
    assert result["ONNX size"][:2] == ["12.80 MB", "5.10 MB"]
    assert result["mAP50-95 (PyTorch)"] == ["0.450", "0.421", "-0.029"]
    assert result["mAP50 (PyTorch)"] == [f"{b['map50']:.3f}", f"{f['map50']:.3f}", "-0.029"]
    assert _close(result["mAP50-95 (ONNX Runtime)"][1], f["onnx_map50_95"])
    assert result["mAP50-95 (yolo val)"][:2] == [f"{b['yolo_val_map50_95']:.3f}", f"{f['yolo_val_map50_95']:.3f}"]
    assert result["mAP50 (yolo val)"][:2] == [f"{b['yolo_val_map50']:.3f}", f"{f['yolo_val_map50']:.3f}"]
    assert "what `yolo val model=<.pt> data=<data> batch=16` reports, with rectangular batches (rect=True" in md
    assert result["latency median (p10-p90), batch 1"] == ["12.35 ms (11.90-13.10)", "6.00 ms (5.80-6.50)",
                                                           f"{summary['speedup']:.2f}x faster"]  # fmt: skip
    assert result["latency median (p10-p90), batch 16"][2] == f"{summary['speedup']:.2f}x faster"
    assert f"Speed-up: {summary['speedup']:.2f}x measured; MACs ratio: {summary['macs_ratio']:.2f}x" in md

    steps = _table(md, "step")
    header, body = steps[0], steps[1:]
    assert len(body) == len(rows)
    for cells, row in zip(body, rows):
        c = dict(zip(header, cells))
        assert int(c["step"]) == row["step"] and c["phase"] == row["phase"]
        for col, key in (("mAP50-95 pruned", "map50_95_pruned"), ("mAP50-95", "map50_95"), ("mAP50", "map50"),
                         ("mAP50 pruned", "map50_pruned"), ("mAP50-95 drop", "map_drop")):  # fmt: skip
            assert c[col] == report.fmt_map(row[key]) and _close(c[col], row[key])
        assert _close(c["MACs left"], row["macs_ratio"] * 100, digits=1)
        assert _close(c["params left"], row["params_ratio"] * 100, digits=1)
        assert _close(c["target removed"], row["target_rate"] * 100, digits=1)
        assert _close(c["MACs"], row["macs"], 1e9, 2)
        assert c["status"] == ("REJECTED" if row["status"] == "rejected" else "kept")
        assert c["checkpoint"] == (row["checkpoint"] or "-")
    assert dict(zip(header, body[3]))["time"] == "1 h 02 min"

    settings = dict(_table(md, "setting")[1:])
    assert settings["method"] == "depgraph" and settings["max_map_drop"] == "0.2" and "command" not in settings
    versions = dict(_table(md, "package")[1:])
    assert versions["ultralytics"] == "8.3.253" and versions["onnxruntime"] == "not installed"
    for name in ("map_vs_step", "map_vs_macs", "macs_params", "channels"):
        assert f"(plots/{name}.png)" in md

    assert page.count('src="data:image/png;base64,') == 4
    assert 'src="plots/' not in page and "<tr class=\"rejected\">" in page


def test_onnx_gap_flag(depgraph_report, slim_report):
    md, page = depgraph_report
    assert "> **Warning:** " + report.ONNX_FLAG in md
    assert f'<p class="warn"><strong>Warning:</strong> {report.ONNX_FLAG}' in page
    slim_md = slim_report[0].decode()
    assert report.ONNX_FLAG not in slim_md and "within tolerance" in slim_md
    assert report.onnx_gap_exceeded({"onnx_gap": -0.05, "onnx_tolerance": 0.01})
    assert not report.onnx_gap_exceeded({"onnx_gap": None, "onnx_tolerance": 0.01})


def test_interrupted_run(interrupted_run):
    rows = json.loads((interrupted_run / "steps.json").read_text())
    (interrupted_run / "weights").mkdir()
    for row, size in ((rows[0], 6_550_000), (rows[2], 2_700_000)):  # step 1's checkpoint is gone: not needed
        (interrupted_run / row["checkpoint"]).write_bytes(b"\0" * size)
    md_path, html_path = report.write_report(interrupted_run)
    md = md_path.read_text()
    assert "Interrupted run" in md and "step 2 (prune)" in md
    result = {r[0]: r[1:] for r in _table(md, "")[1:]}
    assert result["mAP50-95 (PyTorch)"][:2] == [f"{rows[0]['map50_95']:.3f}", f"{rows[2]['map50_95']:.3f}"]
    assert _close(result["MACs"][1], rows[2]["macs"], 1e9, 2)
    assert result["MACs"][2] == f"{rows[0]['macs'] / rows[2]['macs']:.2f}x fewer"
    assert result[".pt size"] == ["6.55 MB", "2.70 MB", "2.43x smaller"]  # the checkpoints that exist
    for key in ("latency median (p10-p90)", "ONNX size", "mAP50-95 (ONNX Runtime)", "mAP50-95 (yolo val)"):
        assert result[key] == ["n/a", "n/a", "n/a"]
    assert len(_table(md, "step")) == 1 + len(rows)
    assert not (interrupted_run / "plots" / "channels.png").exists()
    assert "(plots/map_vs_step.png)" in md and "(plots/channels.png)" not in md
    assert html_path.read_text().count("data:image/png;base64,") == 3


def test_map_axis_never_runs_below_zero(tmp_path):
    """An untrained model scores 0.000 everywhere: the axis starts at 0, and a stop line below 0 is not drawn."""
    rows = [{**r, **{k: 0.0 for k in r if k.startswith("map")}} for r in _depgraph_rows()[:3]]
    run = _write(tmp_path / "zeros", _settings("depgraph"), rows)
    report.plot_steps(run)
    for name in ("map_vs_step", "map_vs_macs"):
        for ax in _plot_data(run, name):
            assert ax["ylim"][0] == 0 < ax["ylim"][1]
            assert "stop line (base - max_map_drop)" not in ax["series"]
    (ax, _) = _plot_data(run, "map_vs_step")
    assert ax["series"]["after fine-tuning"]["y"] == [0.0, 0.0, 0.0]


def test_a_run_without_a_kept_step_or_onnx_says_so(tmp_path):
    rows = [_row(0, "base", 0.0, 1.0, 1.0, 0.45, 0.45), _row(1, "prune", 0.5, 0.3, 0.3, 0.05, 0.2, status="rejected")]
    summary = {**_summary(rows), "speedup": None, "final_step": 0, "final_phase": "base", "no_step_kept": True,
               "rejected": {"step": 1, "map_drop": 0.25}, "max_map_drop": 0.2,
               "onnx_error": "ONNX export of final.pt failed: AssertionError: model too small"}  # fmt: skip
    for side in ("base", "final"):
        summary[side].update(latency=None, latency_batch=None, onnx_bytes=None, onnx_map50_95=None, onnx_map50=None)
    run = _write(tmp_path / "nothing", _settings("depgraph"), rows, LAYERS, summary)
    md = report.write_report(run)[0].read_text()
    no_step = ("No pruning step was kept (step 1 lost 0.250 mAP50-95, more than max_map_drop 0.2): final.pt is the "
               "base model, unpruned; there is no speed-up to measure.")  # fmt: skip
    no_onnx = ("ONNX export was not possible, so ONNX sizes, ONNX Runtime accuracy and latency are n/a: ONNX export "
               "of")
    assert f"> **Warning:** {no_step}" in md and f"> **Warning:** {no_onnx}" in md
    result = {r[0]: r[1:] for r in _table(md, "")[1:]}
    assert result["latency median (p10-p90)"] == ["n/a", "n/a", "n/a"] and result["ONNX size"][2] == "n/a"
    text = report.format_summary_table(summary)
    assert no_step in text and no_onnx in text and "Speed-up: n/a (not measured)" in text


def test_regenerating_is_byte_identical(slim_run, slim_report):
    md1, html1, pngs1 = slim_report
    md2, html2 = (p.read_bytes() for p in report.write_report(slim_run))
    assert md1 == md2 and html1 == html2
    assert pngs1 == {p.name: p.read_bytes() for p in (slim_run / "plots").iterdir()}
    assert b"Creation Time" not in pngs1["sparsity.png"] and b"matplotlib version" not in pngs1["sparsity.png"]


def test_format_summary_table(depgraph_run):
    summary = json.loads((depgraph_run / "summary.json").read_text())
    text = report.format_summary_table(summary)
    lines = text.splitlines()
    assert lines[0].split() == ["base", "final", "change"]
    assert len({len(line) for line in lines[2:12]}) == 1  # aligned columns
    assert any(line.startswith("MACs") and "8.70 G" in line and "fewer" in line for line in lines)
    assert "12.35 ms (11.90-13.10)" in text and report.ONNX_FLAG in text


# -------------------------------------------------------------------------------------------------------------- CLI


def test_cli(depgraph_run, tmp_path, capsys):
    assert report.main([str(depgraph_run)]) == 0
    out = capsys.readouterr().out.split()
    assert out[-2:] == [str(depgraph_run / "report.md"), str(depgraph_run / "report.html")]
    assert str(depgraph_run / "plots" / "channels.png") in out

    assert report.main([str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "does not exist" in err

    (tmp_path / "empty").mkdir()
    assert report.main([str(tmp_path / "empty")]) == 2
    assert "no steps.json" in capsys.readouterr().err

    (tmp_path / "empty" / "steps.json").write_text('[{"step": 0,')  # cut off mid-write
    assert report.main([str(tmp_path / "empty")]) == 2
    assert capsys.readouterr().err.startswith("error: cannot read ")


def test_cli_module_has_no_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "yolo_prune.report", str(tmp_path)], capture_output=True,
                          text=True, env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_channel_counts_flag_widths_the_runtime_runs_slower_and_say_why(tmp_path):
    """Exact shares (round_to 1) leave widths like 35 that ONNX Runtime's CPU kernels run slower: the report lists
    them with the reason; a layer narrower than round_to is named as one rounding could not apply to; the head's
    prediction convs (class count) are never flagged."""
    rows = _depgraph_rows()[:4]
    rows[-1]["rate"] = 0.41
    layers = {
        "base": {"model.0.conv": 16, "model.1.conv": 64, "model.2.cv1.conv": 12, "model.22.cv3.0.2": 3},
        "final": {"model.0.conv": 8, "model.1.conv": 35, "model.2.cv1.conv": 12, "model.22.cv3.0.2": 3},
        "fixed": ["model.22.cv3.0.2"],
    }
    odd = _write(tmp_path / "odd", {**_settings("depgraph"), "round_to": 1}, rows, layers, _summary(rows))
    md = report.write_report(odd)[0].read_text()
    assert "2 of 3 conv widths are not multiples of 8, which ONNX Runtime cpu's kernels run slower" in md
    assert "| model.1.conv | 64 | 35 | round_to 1 is not a multiple of 8 |" in md
    assert "| model.2.cv1.conv | 12 | 12 | not pruned: the base model's own width |" in md
    assert "model.22.cv3.0.2 |" not in md.split("## Channel counts")[1].split("##")[0]
    assert "41.0% of the base's prunable channels removed (scheduled: 40.5%)" in md
    narrow = _write(tmp_path / "narrow", {**_settings("depgraph"), "round_to": 16}, rows, layers, _summary(rows))
    md = report.write_report(narrow)[0].read_text()
    assert "could not apply to 1 layer(s) narrower than that, which keep their own width: model.2.cv1.conv." in md


SEGMENT_METRICS = {"mask_map50_95": "mask mAP50-95", "mask_map50": "mask mAP50", "box_map50_95": "box mAP50-95",
                   "box_map50": "box mAP50"}  # fmt: skip


def _as_segment(row: dict) -> dict:
    """A detection row as a segmentation run logs it: mask mAP (lower) decides, box mAP beside it."""
    out = {k: v for k, v in row.items() if "map50" not in k}
    for suffix in ("_pruned", ""):
        out[f"mask_map50_95{suffix}"] = row[f"map50_95{suffix}"] - 0.1
        out[f"mask_map50{suffix}"] = row[f"map50{suffix}"] - 0.1
        out[f"box_map50_95{suffix}"] = row[f"map50_95{suffix}"]
        out[f"box_map50{suffix}"] = row[f"map50{suffix}"]
    return out


def test_a_task_with_two_metrics_shows_both_and_says_which_decides(tmp_path):
    """A segmentation run logs mask and box mAP: the summary table, the step table and the plots show each, the
    deciding one (mask mAP50-95, the settings file's first metric) has the stop line and is named as deciding."""
    rows = [_as_segment(r) for r in _depgraph_rows()]
    summary = _summary(_depgraph_rows())
    for side in ("base", "final"):
        s = summary[side]
        for prefix in ("", "onnx_", "yolo_val_"):
            s[f"{prefix}box_map50_95"], s[f"{prefix}box_map50"] = s.pop(f"{prefix}map50_95"), s.pop(f"{prefix}map50")
            for metric in ("map50_95", "map50"):
                s[f"{prefix}mask_{metric}"] = s[f"{prefix}box_{metric}"] - 0.1
    summary["metrics"] = SEGMENT_METRICS
    run = _write(tmp_path / "seg", {**_settings("depgraph"), "metrics": SEGMENT_METRICS}, rows, LAYERS, summary)
    md = report.write_report(run)[0].read_text()

    result = {r[0]: r[1:] for r in _table(md, "")[1:]}
    for where in ("PyTorch", "ONNX Runtime", "yolo val"):
        for label in SEGMENT_METRICS.values():
            assert f"{label} ({where})" in result
    assert result["mask mAP50-95 (PyTorch)"] == ["0.350", "0.321", "-0.029"]
    assert result["box mAP50-95 (PyTorch)"] == ["0.450", "0.421", "-0.029"]
    assert "mAP50-95 (PyTorch)" not in result
    assert ("mask mAP50-95 decides (--max-map-drop, the early stop, whether a fine-tuning is kept); mask mAP50, "
            "box mAP50-95, box mAP50 are shown beside it.") in md  # fmt: skip
    assert "ONNX Runtime vs PyTorch mask mAP50-95 gap: 0.002" in md

    steps = _table(md, "step")
    header, body = steps[0], steps[1:]
    assert header[8:17] == ["mask mAP50-95 pruned", "mask mAP50-95", "mask mAP50 pruned", "mask mAP50",
                            "box mAP50-95 pruned", "box mAP50-95", "box mAP50 pruned", "box mAP50",
                            "mask mAP50-95 drop"]  # fmt: skip
    for cells, row in zip(body, rows):
        c = dict(zip(header, cells))
        for key, label in SEGMENT_METRICS.items():
            assert c[label] == report.fmt_map(row[key]) and c[f"{label} pruned"] == report.fmt_map(row[f"{key}_pruned"])

    axes = _plot_data(run, "map_vs_step")
    assert [ax["title"] for ax in axes] == ["mask mAP50-95 (decides)", "mask mAP50", "box mAP50-95", "box mAP50"]
    kept = [r for r in rows if r["status"] == "kept"]
    for ax, key in zip(axes, SEGMENT_METRICS):
        assert ax["series"]["after fine-tuning"]["y"] == [r[key] for r in kept]
    assert axes[0]["series"]["stop line (base - max_map_drop)"]["y"] == [0.35 - 0.2] * 2
    assert "stop line (base - max_map_drop)" not in axes[2]["series"]

    text = report.format_summary_table(summary)
    assert "mask mAP50-95 decides" in text and "box mAP50 (yolo val)" in text
