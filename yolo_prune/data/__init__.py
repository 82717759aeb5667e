"""Data sets for yolo-prune: two shapes generators (the demo's easy set and a hard benchmark set) and a Pascal VOC to
YOLO converter.

Usage:
    from yolo_prune.data.hard import hard_dataset
    from yolo_prune.data.synthetic import generate_voc_dataset
    from yolo_prune.data.voc import voc_to_yolo

    voc = generate_voc_dataset("datasets/generated/shapes-voc", n_images=300, imgsz=128)
    summary = voc_to_yolo(voc, "datasets/generated/shapes-yolo")
    print(summary)  # summary.data_yaml is ready for `yolo-prune --data`
    data_yaml = hard_dataset("datasets/generated")  # the hard set, generated once, split, cached

CLI:
    python -m yolo_prune.data.synthetic --out datasets/generated/shapes-voc --images 300 --imgsz 128
    python scripts/voc_split.py --src datasets/generated/shapes-voc --dst datasets/generated/shapes-yolo
    python -m yolo_prune.data.hard --root datasets/generated
"""
