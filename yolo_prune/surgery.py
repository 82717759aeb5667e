"""Where checkpoints of yolo-prune 0.1 find ``C2f_v2``: they pickled it under this module's name. Loading one
(``yolo_prune.checkpoint.load_detector``) folds it back into a stock C2f; new code imports it from
``yolo_prune.structure``."""

from yolo_prune.structure.c2f import C2f_v2

__all__ = ["C2f_v2"]
