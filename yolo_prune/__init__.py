"""yolo-prune: structured pruning for Ultralytics YOLOv8, YOLO11 and YOLO26 detectors, with measured reports.

Usage:
    from yolo_prune import prune

    result = prune(model="best.pt", data="data.yaml", target_prune_rate=0.5)
    print(result.final_pt, result.onnx, result.report)

CLI:
    yolo-prune --model best.pt --data data.yaml --target-prune-rate 0.5
"""

from yolo_prune import offline  # noqa: F401  (must run before Ultralytics is imported)

__version__ = "0.1.0"


def __getattr__(name: str):
    """Import the pipeline lazily so that ``import yolo_prune`` (and unpickling C2f_v2) stays cheap."""
    if name in ("prune", "PruneResult"):
        from yolo_prune import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
