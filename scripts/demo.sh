#!/usr/bin/env bash
# The yolo-prune demo, end to end on the CPU with nothing downloaded at run time:
#   1. generate a small detection data set of shapes in Pascal VOC layout (cached in datasets/generated/),
#   2. convert it to YOLO layout with a train/val split (scripts/voc_split.py),
#   3. train a yolov8n base model from yolov8n.yaml on it (cached in .cache/base-models/: no pretrained weights),
#   4. prune that model by half with DepGraph in a few prune + fine-tune steps: a fresh runs/prune/exp* folder
#      with the pruned model, its ONNX file and a report.
#
#   bash scripts/demo.sh
#   PYTHON=python3.12 bash scripts/demo.sh    # the interpreter for a new .venv (default: python3.11, else python3)
#
# About 5 minutes on 2 CPU cores the first time (2-3 of them train the base model), about 2 once the data set and
# base model are cached. Ultralytics keeps its settings in .cache/ultralytics instead of the user's ~/.config (set
# YOLO_CONFIG_DIR to choose another folder), so a user's own settings (loggers, folders) never change the demo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/venv.sh  # defines ensure_venv

# The data set's folder is named after every generator setting, so changing one generates a new data set.
IMAGES=400 IMGSZ=128 CLASSES=3 SEED=0
DATA_DIR="datasets/generated/shapes-${IMAGES}x${IMGSZ}-${CLASSES}cls-seed${SEED}"

ensure_venv
export YOLO_CONFIG_DIR="${YOLO_CONFIG_DIR:-$PWD/.cache/ultralytics}"
PY=.venv/bin/python

echo "== 1/4 data set: $DATA_DIR/voc"
if [[ -d "$DATA_DIR/voc" ]]; then
    echo "cached"
else  # generated aside and renamed, so an interrupted run never leaves a half data set that looks complete
    rm -rf "$DATA_DIR/voc.partial"
    "$PY" -m yolo_prune.demo.synthetic --out "$DATA_DIR/voc.partial" --images "$IMAGES" --imgsz "$IMGSZ" \
        --n-classes "$CLASSES" --seed "$SEED"
    mv "$DATA_DIR/voc.partial" "$DATA_DIR/voc"
fi

echo "== 2/4 YOLO layout with a train/val split: $DATA_DIR/yolo"
# Redone every run (about a second): data.yaml holds the absolute path, which must follow the checkout.
rm -rf "$DATA_DIR/yolo"
"$PY" scripts/voc_split.py --src "$DATA_DIR/voc" --dst "$DATA_DIR/yolo" --train-ratio 0.8 --seed "$SEED"
DATA="$DATA_DIR/yolo/data.yaml"

echo "== 3/4 base model: yolov8n trained from scratch on $DATA"
BASE="$("$PY" -m yolo_prune.demo.base_model --data "$DATA" --cache-dir .cache/base-models --imgsz "$IMGSZ")"

echo "== 4/4 prune: DepGraph, half of each prunable layer's channels in 4 steps of prune + 4 fine-tuning epochs"
# Ultralytics train settings without a flag of their own go in a --cfg file. These two let 4 epochs recover: an
# optimizer step every batch of 16 instead of every 4th (nbs: 64), and the augmentation the base model learned with.
mkdir -p .cache
cat > .cache/demo-finetune.yaml <<'YAML'
nbs: 16
scale: 0.25
YAML
.venv/bin/yolo-prune --model "$BASE" --data "$DATA" --cfg .cache/demo-finetune.yaml --target-prune-rate 0.5 \
    --iterative-steps 4 --epochs 4 --imgsz "$IMGSZ" --batch 16 --workers 0 --device cpu --latency-runs 30 --quiet

echo "demo finished in $((SECONDS / 60)) min $((SECONDS % 60)) s"
