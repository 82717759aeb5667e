# Sourced by scripts/demo.sh and scripts/test.sh: create .venv with Python >= 3.9 if it is missing and install the
# project into it once per pyproject.toml (`pip install -e '.[cpu,openvino,ncnn,qat,test]'`: ONNX Runtime, the other
# CPU runtimes the tests time on, NVIDIA's Model Optimizer for the QAT test, and pytest; the first time takes several
# minutes).
#   PYTHON=python3.12 bash scripts/test.sh   # the interpreter for a new .venv (default: python3.11, else python3)
ensure_venv() {
    local python="${PYTHON:-$(command -v python3.11 || command -v python3 || true)}"
    if [[ ! -x .venv/bin/python ]]; then
        [[ -n "$python" ]] || { echo "error: no python3 found; set PYTHON=/path/to/python3.11" >&2; exit 1; }
        echo "creating .venv with $("$python" --version 2>&1)" >&2
        "$python" -m venv .venv ||
            { echo "error: '$python -m venv' failed (on Debian/Ubuntu: apt install python3-venv)" >&2; exit 1; }
    fi
    local stamp=.venv/.yolo-prune-installed want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1) cpu,openvino,ncnn,qat,test"
    if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]] || ! .venv/bin/python -c \
        "import importlib.metadata as m, yolo_prune; m.version('yolo-prune')" >/dev/null 2>&1; then
        echo "installing yolo-prune into .venv: pip install -e '.[cpu,openvino,ncnn,qat,test]'" \
            "(the first time takes several minutes)" >&2
        .venv/bin/python -m pip install -q -e '.[cpu,openvino,ncnn,qat,test]' > .venv/pip-install.log 2>&1 ||
            { cat .venv/pip-install.log >&2; echo "error: pip install failed (log above)" >&2; exit 1; }
        echo "$want" > "$stamp"
    fi
}
