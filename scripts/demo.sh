#!/usr/bin/env bash
# The yolo-prune demo, end to end on the CPU with nothing downloaded at run time, for one task:
#   1. generate a small data set of shapes labelled for the task (cached in datasets/generated/): for detection in
#      Pascal VOC layout, converted to YOLO layout with a train/val split (scripts/voc_split.py); for segmentation,
#      pose and oriented boxes in YOLO layout directly (yolo_prune.demo.tasks); for classification as class folders,
#   2. train a yolov8n base model of the task from its bundled yaml on it (cached in .cache/base-models/: no
#      pretrained weights),
#   3. prune that model by half with DepGraph in a few prune + fine-tune steps: a fresh runs/prune/exp* folder
#      with the pruned model, its ONNX file and a report.
#
#   bash scripts/demo.sh             # detection (the default)
#   bash scripts/demo.sh segment     # or pose, obb, classify
#   PYTHON=python3.12 bash scripts/demo.sh    # the interpreter for a new .venv (default: python3.11, else python3)
#
# Detection takes about 5 minutes on 2 CPU cores the first time (2-3 of them train the base model), about 2 once the
# data set and base model are cached; the other tasks take longer (see the README). Ultralytics keeps its settings in
# .cache/ultralytics instead of the user's ~/.config (set YOLO_CONFIG_DIR to choose another folder), so a user's own
# settings (loggers, folders) never change the demo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TASK="${1-detect}"  # an empty argument is no task
case "$TASK" in  # checked before anything is installed, generated or trained
    detect | segment | pose | obb | classify) ;;
    *) echo "error: unknown task '$TASK'; choose one of detect, segment, pose, obb, classify" >&2; exit 2 ;;
esac
if (($# > 1)); then
    echo "error: the demo takes one argument, the task (detect, segment, pose, obb or classify); got $#" >&2
    exit 2
fi

# Per task: the generator's settings (the data set's folder is named after every one, so changing one generates a
# new data set), the base model's yaml and its training epochs.
IMAGES=400 IMGSZ=128 CLASSES=3 SEED=0 BASE_EPOCHS=25
case "$TASK" in
    detect) MODEL=yolov8n.yaml ;;
    segment) MODEL=yolov8n-seg.yaml ;;
    pose) MODEL=yolov8n-pose.yaml ;;
    obb) MODEL=yolov8n-obb.yaml ;;
    classify) MODEL=yolov8n-cls.yaml IMGSZ=64 BASE_EPOCHS=10 ;;
esac
DATA_DIR="datasets/generated/shapes-${IMAGES}x${IMGSZ}-${CLASSES}cls-seed${SEED}"
[[ "$TASK" == detect ]] || DATA_DIR="$DATA_DIR-$TASK"

source scripts/venv.sh  # defines ensure_venv
ensure_venv
export YOLO_CONFIG_DIR="${YOLO_CONFIG_DIR:-$PWD/.cache/ultralytics}"
PY=.venv/bin/python

# Each data set is generated aside and renamed, so an interrupted run never leaves a half data set that looks complete.
generate_once() {  # FOLDER MODULE [ARGS...]: run the generator MODULE into FOLDER unless FOLDER is there
    local folder="$1" module="$2"
    shift 2
    if [[ -d "$folder" ]]; then
        echo "cached"
        return
    fi
    rm -rf "$folder.partial"
    "$PY" -m "$module" "$@" --out "$folder.partial" --images "$IMAGES" --imgsz "$IMGSZ" --n-classes "$CLASSES" \
        --seed "$SEED"
    mv "$folder.partial" "$folder"
}

echo "== 1/3 $TASK data set: $DATA_DIR"
case "$TASK" in
    detect)
        generate_once "$DATA_DIR/voc" yolo_prune.demo.synthetic
        # Redone every run (about a second): data.yaml holds the absolute path, which must follow the checkout.
        echo "YOLO layout with a train/val split: $DATA_DIR/yolo"
        rm -rf "$DATA_DIR/yolo"
        "$PY" scripts/voc_split.py --src "$DATA_DIR/voc" --dst "$DATA_DIR/yolo" --train-ratio 0.8 --seed "$SEED"
        DATA="$DATA_DIR/yolo/data.yaml"
        ;;
    classify)
        generate_once "$DATA_DIR" yolo_prune.demo.classify
        DATA="$DATA_DIR"  # class folders: train/<class>/, val/<class>/
        ;;
    *)
        generate_once "$DATA_DIR" yolo_prune.demo.tasks --task "$TASK"
        DATA="$DATA_DIR/data.yaml"
        # data.yaml holds the absolute path, which must follow the folder's renaming and the checkout.
        "$PY" -c 'import sys, yaml; p, root = sys.argv[1:]; d = yaml.safe_load(open(p)); d["path"] = root
open(p, "w").write(yaml.safe_dump(d, sort_keys=False))' "$DATA" "$PWD/$DATA_DIR"
        ;;
esac

echo "== 2/3 base model: ${MODEL%.yaml} trained from scratch on $DATA"
BASE="$("$PY" -m yolo_prune.demo.base_model --data "$DATA" --model "$MODEL" --cache-dir .cache/base-models \
    --imgsz "$IMGSZ" --epochs "$BASE_EPOCHS")"

echo "== 3/3 prune: DepGraph, half of each prunable layer's channels in 4 steps of prune + 4 fine-tuning epochs"
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
