"""Tools users run on their own data before pruning, beside the pruning engine, which never imports them.

- ``voc``: converts a Pascal VOC folder to Ultralytics' YOLO layout with a seeded train/val split (the VOC-split
  helper, ``scripts/voc_split.py``).

Usage:
    from yolo_prune.tools.voc import voc_to_yolo

    summary = voc_to_yolo("VOCdevkit/VOC2012", "datasets/VOC2012-yolo", train_ratio=0.8, seed=0)
    print(summary)  # summary.data_yaml is ready for `yolo-prune --data`

CLI:
    python scripts/voc_split.py --src VOCdevkit/VOC2012 --train-ratio 0.8 --seed 0
"""
