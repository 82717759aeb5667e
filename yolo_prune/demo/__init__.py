"""Demo and benchmark data: generated data sets and a base model trained on them, so that the demo, the tests and
the benchmarks run without downloading anything. The pruning engine never imports this package.

- ``synthetic``: the demo's easy set of filled shapes, in Pascal VOC layout.
- ``classify``: the same shapes one per image, in class folders, for classification models.
- ``hard``: a hard benchmark set (look-alike classes, small objects, clutter) on which model capacity shows.
- ``base_model``: a detector trained from scratch on such a set and cached, the demo's stand-in for pretrained weights.

Usage:
    from yolo_prune.demo.base_model import train_base_model
    from yolo_prune.demo.hard import hard_dataset
    from yolo_prune.demo.synthetic import generate_voc_dataset
    from yolo_prune.tools.voc import voc_to_yolo

    voc = generate_voc_dataset("datasets/generated/shapes-voc", n_images=300, imgsz=128)
    summary = voc_to_yolo(voc, "datasets/generated/shapes-yolo")
    base = train_base_model(summary.data_yaml, cache_dir=".cache/base-models")  # base.weights: for yolo-prune --model
    data_yaml = hard_dataset("datasets/generated")  # the hard set, generated once, split, cached

CLI:
    python -m yolo_prune.demo.synthetic --out datasets/generated/shapes-voc --images 300 --imgsz 128
    python -m yolo_prune.demo.classify --out datasets/generated/shapes-cls --images 300 --imgsz 64
    python scripts/voc_split.py --src datasets/generated/shapes-voc --dst datasets/generated/shapes-yolo
    python -m yolo_prune.demo.base_model --data datasets/generated/shapes-yolo/data.yaml --cache-dir .cache/base-models
    python -m yolo_prune.demo.hard --root datasets/generated
"""
