"""yolo-prune: structured pruning for Ultralytics YOLOv8, YOLO11 and YOLO26 detection, segmentation, pose,
oriented-box and classification models, with measured reports.

Usage:
    from yolo_prune import prune

    result = prune(model="best.pt", data="data.yaml", target_prune_rate=0.5)
    print(result.final_pt, result.onnx, result.report)

CLI:
    yolo-prune --model best.pt --data data.yaml --target-prune-rate 0.5

Parts: ``pipeline`` runs the steps and ``methods`` choose the cuts; ``structure`` owns the model's structure (a part
per layer type, a task per head, and the ``ModelAdapter`` the loop builds once and hands to everything that meets the
model); ``rundir`` owns the run directory (its file names, atomic writes, the step log); ``report`` reads a run
directory and writes its plots and reports. Beside the
engine, which never imports them: ``demo`` (generated data sets and a base model for the demo and the benchmarks)
and ``tools`` (the VOC-split helper).
"""

from yolo_prune import offline  # noqa: F401  (must run before Ultralytics is imported)

__version__ = "0.1.0"


def __getattr__(name: str):
    """Import the pipeline lazily so that ``import yolo_prune`` (and unpickling C2f_v2) stays cheap."""
    if name in ("prune", "PruneResult"):
        from yolo_prune import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
