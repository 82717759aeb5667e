"""Time the models of a yolo-prune latency kit on the device it was carried to, and write timings.json beside them.

Standalone on purpose: it needs numpy and the kit's runtime (onnxruntime, openvino or ncnn), not yolo-prune or
torch, so that it runs on a Raspberry Pi, a Jetson or in Termux on a phone. The models run in interleaved rounds
(each round runs every model once, in alternating order) so that the device's drift falls on all alike; with one
thread each run is timed by the calling thread's CPU time, else by the wall clock. The first run unpacks models.zip.

Usage (in the kit's folder, on the device):
    python time_models.py                # kit.json's threads, 30 rounds
    python time_models.py --runs 50 --threads 4
"""

import argparse
import importlib
import json
import os
import platform
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

PACKAGES = {"cpu": "onnxruntime", "openvino": "openvino", "ncnn": "ncnn"}


def session(runtime, path, threads):
    """A function that runs the model at ``path`` once on ``x``."""
    if runtime in ("cpu", "openvino") and path.suffix != ".onnx":
        raise SystemExit(f"error: {path} is not an ONNX file")
    if runtime == "cpu":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        s = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = s.get_inputs()[0].name
        return lambda x: s.run(None, {name: x})
    if runtime == "openvino":
        import openvino as ov

        config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        request = ov.Core().compile_model(str(path), "CPU", config).create_infer_request()
        return lambda x: request.infer({0: x})
    if runtime == "ncnn":
        import ncnn

        net = ncnn.Net()
        net.opt.use_vulkan_compute = False
        if threads:
            net.opt.num_threads = threads
        net.load_param(str(path / "model.ncnn.param"))
        net.load_model(str(path / "model.ncnn.bin"))
        inp, outs = net.input_names()[0], sorted(net.output_names())

        def run(x):
            with net.create_extractor() as ex:
                ex.input(inp, ncnn.Mat(np.ascontiguousarray(x[0])))
                return [np.array(ex.extract(o)[1]) for o in outs]

        return run
    raise SystemExit(f"error: this script times cpu, openvino or ncnn models, not {runtime}")


def main():
    kit = Path(__file__).resolve().parent
    manifest = json.loads((kit / "kit.json").read_text())
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30, help="timed rounds (default 30)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    ap.add_argument("--threads", type=int, default=manifest.get("threads"), help="the runtime's threads")
    args = ap.parse_args()
    names = list(manifest["models"])
    if not all((kit / manifest["models"][n]).exists() for n in names):  # first run: unpack the models beside
        with zipfile.ZipFile(kit / "models.zip") as z:
            z.extractall(kit)
    runners = [session(manifest["runtime"], kit / manifest["models"][n], args.threads) for n in names]
    x = np.random.default_rng(0).random(manifest["input_shape"], dtype=np.float32)
    now = time.thread_time if args.threads == 1 else time.perf_counter
    times, total, started = {n: [] for n in names}, args.warmup + args.runs, time.perf_counter()
    for i in range(total):
        order = list(zip(names, runners))
        for name, run in order if i % 2 == 0 else order[::-1]:
            t = now()
            run(x)
            if i >= args.warmup:
                times[name].append((now() - t) * 1e3)
        left = (time.perf_counter() - started) / (i + 1) * (total - i - 1) / 60
        print(f"\rround {i + 1}/{total}, about {left:.0f} min left ", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    out = {"fingerprint": manifest["fingerprint"], "runtime": manifest["runtime"], "threads": args.threads,
           "clock": "thread CPU time" if args.threads == 1 else "wall clock", "runs": args.runs,
           "device": {"machine": platform.machine(), "processor": platform.processor(), "system": platform.platform(),
                      "cpus": os.cpu_count(), "python": platform.python_version(),
                      "runtime_version": getattr(importlib.import_module(PACKAGES[manifest["runtime"]]),
                                                 "__version__", "unknown")},
           "median_ms": {n: float(np.median(t)) for n, t in times.items()}}
    (kit / "timings.json").write_text(json.dumps(out, indent=2) + "\n")
    ms = out["median_ms"]
    if "final" in ms:  # a verify kit: the answer is here
        print(f"final {ms['final']:.2f} ms against base {ms['base']:.2f} ms: {ms['base'] / ms['final']:.2f}x faster "
              f"on this device")  # fmt: skip
    else:
        print(f"wrote {kit / 'timings.json'}: base {ms['base']:.2f} ms; copy it back beside kit.json")


if __name__ == "__main__":
    main()
