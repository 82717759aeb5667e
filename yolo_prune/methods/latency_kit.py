"""A speed target met for a device yolo-prune cannot run on (a Raspberry Pi, a Jetson, a phone): the models the
latency model is built from, carried there in a kit folder and timed by a standalone script, their timings read back.

One round trip. The first run with ``--latency-table DIR`` writes the kit into DIR and stops before any pruning:
``models.zip`` (the base, the floor, each layer cut to half and to its floor, and three cuts of every layer together,
for the runtime: ONNX files for ``cpu`` and ``openvino``, an ncnn param/bin pair each for ``ncnn``; their conv weights
a repeated placeholder pattern, which times alike and zips to about 1 % of the size), ``kit.json``
(what each model is, the input shape, and a fingerprint of the model and the settings that shape the cuts),
``time_models.py`` (numpy and the runtime's own package only) and ``README.txt``. On the device, ``python
time_models.py`` writes ``timings.json``; back here, the same command finds it and runs the speed target on the
device's timings: the floor and the latency model come from them (the cuts of every layer together fit the factor
by which cuts made together save less than their sum), and each step's widths are those the model *predicts* meet
its aim, with no timing here. Every speed-up of such a run is a prediction for the device, and the run says so; at
the end it writes ``DIR/verify/`` (base and final, the same script) to confirm the final speed-up there.

Usage:
    from yolo_prune import prune
    from yolo_prune.errors import Paused

    try:  # the first call writes the kit and raises Paused, whose message says what to do next
        prune(model="best.pt", data="data.yaml", target_speedup=2, latency_provider="ncnn", latency_table="kit")
    except Paused as e:
        print(e)
    # ... kit/timings.json back from the device: the same call runs the speed target on its timings
    prune(model="best.pt", data="data.yaml", target_speedup=2, latency_provider="ncnn", latency_table="kit")

CLI:
    yolo-prune --model best.pt --data data.yaml --target-speedup 2 --latency-provider ncnn --latency-table kit
    # copy kit/ to the device; there: python time_models.py; copy kit/timings.json back; run the same command again
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from yolo_prune.errors import UserError
from yolo_prune.export import onnx_input_shape
from yolo_prune.methods.time_models import PACKAGES  # the runtimes the kit's script runs with their own package

KIT_FILE, TIMINGS_FILE, SCRIPT, README, MODELS = "kit.json", "timings.json", "time_models.py", "README.txt", "models"
PATTERN = 256  # values a kit model's conv weights repeat: a dense kernel's time does not depend on them
UNIFORM = (0.25, 0.5, 0.75)  # cuts of every layer this far to its floor: the correction for cuts made together
SHAPING = ("imgsz", "min_channels", "round_to", "yaml_widths", "prune_head", "latency_provider")


def structure(onnx: Path) -> str:
    """What a model's latency depends on: its convs' weight shapes and groups, in graph order (not their values:
    the same cut of differently ranked channels times alike)."""
    import onnx as onnx_lib

    graph = onnx_lib.load(str(onnx), load_external_data=False).graph
    dims = {i.name: list(i.dims) for i in graph.initializer}
    convs = [(dims.get(n.input[1]), [a.i for a in n.attribute if a.name == "group"])
             for n in graph.node if n.op_type in ("Conv", "ConvTranspose")]  # fmt: skip
    return hashlib.sha1(json.dumps(convs).encode()).hexdigest()


def placeholder(onnx: Path, target: Path) -> None:
    """``onnx`` with each conv weight a random pattern of ``PATTERN`` values repeated, at the tensor's own mean and
    spread: the same shapes and the same time (yolov8n at 320 px, one thread: within 1 % of the real weights on ONNX
    Runtime, OpenVINO and ncnn), but a file that deflates ~90x (yolov8n's 51-model kit: 7 MB, not 570 MB). It
    predicts nothing: the kit's README says not to deploy it."""
    import onnx as onnx_lib
    from onnx import numpy_helper

    model = onnx_lib.load(str(onnx))
    weights = {n.input[1] for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose")}
    pattern = np.random.default_rng(0).standard_normal(PATTERN).astype(np.float32)
    for init in model.graph.initializer:
        if init.name in weights and init.data_type == onnx_lib.TensorProto.FLOAT:
            w = numpy_helper.to_array(init)
            fill = np.resize(pattern, w.size).reshape(w.shape) * w.std() + w.mean()
            init.CopyFrom(numpy_helper.from_array(fill.astype(np.float32), init.name))
    onnx_lib.save(model, str(target))


def fingerprint(settings: dict[str, Any], widths: dict[str, int]) -> str:
    """The model's architecture (every conv's width) and the settings that decide which cuts the kit holds."""
    shaping = {k: settings.get(k) for k in SHAPING}
    return hashlib.sha256(json.dumps([widths, shaping], sort_keys=True).encode()).hexdigest()[:16]


class Kit:
    """The kit folder of a run with ``--latency-table``: written when it has no timings, read when it has."""

    def __init__(self, folder: Path, settings: dict[str, Any]) -> None:
        self.folder, self.settings = Path(folder).absolute(), settings  # named so in every message and record
        if self.folder.exists() and not (self.folder / KIT_FILE).is_file() and (
                not self.folder.is_dir() or any(self.folder.iterdir())):  # fmt: skip
            raise UserError(f"--latency-table {self.folder} is a file or a folder with other files in it: give a new "
                            "or empty folder for the kit")  # fmt: skip
        self.fingerprint: str | None = None  # known once ``bind`` has seen the model; a resumed run trusts its kit
        self.manifest: dict[str, Any] = {}
        self.timings: dict[str, Any] = {}

    def bind(self, widths: dict[str, int]) -> None:
        """The model the kit is for, by its conv widths."""
        self.fingerprint = fingerprint(self.settings, widths)

    @property
    def timed(self) -> bool:
        return (self.folder / TIMINGS_FILE).is_file()

    def write(self, models: dict[str, Path], what: dict[str, dict[str, Any]]) -> str:
        """Write the kit (``models``: name -> ONNX file; ``what``: name -> what the model is, in kit.json: the cuts
        of every layer together with their widths by the latency model's keys) and return what to do next."""
        from yolo_prune.runtimes.ncnn import convert

        runtime, shape = self.settings["latency_provider"], onnx_input_shape(models["base"])
        staged = self.folder / MODELS  # zipped, then removed: the kit carries one archive of models
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        files, keys = {}, {}
        for name, onnx in models.items():
            keys[structure(onnx)] = name
            if runtime == "ncnn":
                target = staged / name
                target.mkdir()
                placeholder(onnx, target / "model.onnx")
                convert(target / "model.onnx", shape)
                for f in target.iterdir():
                    if not f.name.startswith("model.ncnn."):
                        f.unlink()
            else:
                target = staged / f"{name}.onnx"
                placeholder(onnx, target)
            files[name] = target.relative_to(self.folder).as_posix()
        with zipfile.ZipFile(self.folder / f"{MODELS}.zip", "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(staged.rglob("*")):
                z.write(f, f.relative_to(self.folder).as_posix())
        shutil.rmtree(staged)
        self._write_manifest(files, shape, keys=keys, what=what)
        size = sum(f.stat().st_size for f in self.folder.iterdir() if f.is_file()) / 1e6
        return (f"wrote a latency kit of {len(files)} models ({size:.1f} MB) to {self.folder}; nothing was pruned. "
                f"Next: (1) copy {self.folder} to the device; (2) there, with Python 3, numpy and {PACKAGES[runtime]} "
                f"installed, run 'python {SCRIPT}' in it (it writes {TIMINGS_FILE}; {README} says more); (3) copy "
                f"{TIMINGS_FILE} back into {self.folder} and run this same command again")  # fmt: skip

    def _write_manifest(self, files: dict[str, str], shape: tuple[int, ...], **extra: Any) -> None:
        runtime = self.settings["latency_provider"]
        manifest = {"fingerprint": self.fingerprint, "runtime": runtime, "imgsz": self.settings["imgsz"],
                    "threads": self.settings.get("latency_threads"), "input_shape": list(shape), "models": files,
                    **extra}  # fmt: skip
        (self.folder / KIT_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        shutil.copyfile(Path(__file__).with_name(SCRIPT), self.folder / SCRIPT)
        threads = self.settings.get("latency_threads") or "the runtime's own number of"
        (self.folder / README).write_text(
            f"A yolo-prune latency kit: {len(files)} models for {runtime} ({PACKAGES[runtime]}), input {list(shape)},\n"
            f"in {MODELS}.zip (unpacked by the script; kit.json says what each is). Their conv weights are a\n"
            f"placeholder pattern that runs as fast as the real ones: time them, do not deploy them.\n"
            f"1. On the device: pip install numpy {PACKAGES[runtime]}\n"
            f"2. In this folder: python {SCRIPT}   (options: --runs N, --threads N; the kit asks for {threads}\n"
            f"   threads: time as you deploy). It runs every model in interleaved rounds and writes {TIMINGS_FILE};\n"
            f"   after the first round it says how long the rest takes (minutes for a small model on a board).\n"
            f"3. Copy {TIMINGS_FILE} back into this folder where yolo-prune runs, and run its command again.\n"
        )  # fmt: skip

    def load(self) -> None:
        """Read the kit and its timings, refusing ones from another model or settings, or with a model missing."""
        try:
            self.manifest = json.loads((self.folder / KIT_FILE).read_text())
            self.timings = json.loads((self.folder / TIMINGS_FILE).read_text())
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read the latency kit in {self.folder}: {e}") from None
        known = self.fingerprint or self.manifest.get("fingerprint")
        if self.manifest.get("fingerprint") != known or self.timings.get("fingerprint") != known:
            raise UserError(f"the latency kit in {self.folder} was written for another model or other settings "
                            f"({', '.join(SHAPING)}): give a new folder to write a kit for this run")  # fmt: skip
        missing = [n for n in self.manifest["models"] if n not in self.timings.get("median_ms", {})]
        if missing:
            raise UserError(f"{self.folder / TIMINGS_FILE} has no time for {', '.join(missing[:3])}"
                            f"{' ...' if len(missing) > 3 else ''}: run {SCRIPT} on the device again")  # fmt: skip

    @property
    def device(self) -> dict[str, Any]:
        return {**self.timings.get("device", {}), "clock": self.timings.get("clock"),
                "threads": self.timings.get("threads"), "kit": str(self.folder)}  # fmt: skip

    def ms(self, onnx: Path) -> float:
        """The device's median ms for a model of the kit (known by its structure)."""
        if not self.manifest:  # a resumed run reads its kit again
            self.load()
        name = self.manifest["keys"].get(structure(onnx))
        if name is None:  # same widths, other graphs: an exporter changed since the kit was written
            raise UserError(f"the latency kit in {self.folder} has no model shaped as this run exports it (was "
                            "Ultralytics or Torch updated since it was written?): give a new folder to write a kit "
                            "for this run")  # fmt: skip
        return float(self.timings["median_ms"][name])

    def uniform_cuts(self) -> list[tuple[dict[str, int], float]]:
        """The cuts of every layer together, as widths by key with the share of the base's latency each took."""
        if not self.manifest:
            self.load()
        base = self.timings["median_ms"]["base"]
        return [(w["widths"], self.timings["median_ms"][name] / base) for name, w in self.manifest["what"].items()
                if "widths" in w]  # fmt: skip

    def verify(self, base: Path, final: Path) -> Path:
        """``DIR/verify/``: base and final for the device, the same script, to confirm the final speed-up there."""
        if not self.manifest:  # a resumed run: its kit's fingerprint
            self.load()
        shutil.rmtree(self.folder / "verify", ignore_errors=True)
        kit = Kit(self.folder / "verify", self.settings)
        kit.fingerprint = self.fingerprint or self.manifest["fingerprint"]
        kit.write({"base": base, "final": final}, {"base": {"cut": "none: the model as given"},
                                                     "final": {"cut": "the run's final model"}})  # fmt: skip
        return kit.folder


def kit_models(model: Any, graph: Any, probes: list[tuple[Any, dict, bool]], rules: Any, base: Path,
               floor: Path) -> tuple[dict[str, Path], dict[str, dict[str, Any]]]:  # fmt: skip
    """The models a device times for the kit, beside ``base`` (ONNX files written next to it): the floor, the
    latency model's cuts (``probes``: each layer to half and to its floor) and the cuts of every layer together
    (``UNIFORM`` of the way to its floor); and what each is, for kit.json (a layer's cut: its stock name, the
    latency model's key and the width; a cut of every layer: the widths by key, what the correction is fitted on)."""
    from yolo_prune.export import export_like
    from yolo_prune.methods.latency import cut_copy
    from yolo_prune.methods.latency_model import keyed

    models = {"base": base, "floor": floor}
    what: dict[str, dict[str, Any]] = {"base": {"cut": "none: the model as given"},
                                       "floor": {"cut": "every prunable layer at its narrowest width"}}  # fmt: skip
    for i, (u, widths, halving) in enumerate(probes):
        name = f"layer{i:02d}_{'half' if halving else 'floor'}"
        models[name] = export_like(base, cut_copy(model, graph, widths), base.with_name(f"k{i}.onnx"))
        what[name] = {"cut": "one layer", "layer": u.layer, "key": "|".join(u.key), "width": widths[u.convs[0]],
                      "base_width": u.width}  # fmt: skip
    cuttable = list({u.key: u for u, _, _ in probes}.values())  # the layers the latency model knows
    for share in UNIFORM:
        widths = rules.apply({c: round(u.width - share * (u.width - u.floor)) for u in cuttable for c in u.convs})
        name = f"all_layers_{round(share * 100)}"
        models[name] = export_like(base, cut_copy(model, graph, widths), base.with_name(f"{name}.onnx"))
        what[name] = {"cut": f"every layer {share:.0%} of the way to its floor", "widths": keyed(cuttable, widths)}
    return models, what
