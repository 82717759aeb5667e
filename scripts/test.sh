#!/usr/bin/env bash
# Run the whole test suite in the project's virtual environment, creating and installing it first when needed.
#
#   bash scripts/test.sh                 # every test under tests/
#   bash scripts/test.sh -k voc -x       # extra arguments go to pytest
#   PYTHON=python3.12 bash scripts/test.sh
#
# The first run creates .venv and installs yolo-prune with `pip install -e '.[cpu,test]'` (several minutes: torch
# alone is large); later runs reuse it and reinstall only when pyproject.toml has changed. Exits non-zero when a
# test fails or when no test was collected at all (pytest's exit code 5), so that CI cannot pass on an empty run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Same as in scripts/demo.sh: create .venv with Python >= 3.9 and install the project once per pyproject.toml.
ensure_venv() {
    local python="${PYTHON:-$(command -v python3.11 || command -v python3 || true)}"
    if [[ ! -x .venv/bin/python ]]; then
        [[ -n "$python" ]] || { echo "error: no python3 found; set PYTHON=/path/to/python3.11" >&2; exit 1; }
        echo "creating .venv with $("$python" --version 2>&1)" >&2
        "$python" -m venv .venv ||
            { echo "error: '$python -m venv' failed (on Debian/Ubuntu: apt install python3-venv)" >&2; exit 1; }
    fi
    local stamp=.venv/.yolo-prune-installed want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1) cpu,test"
    if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]] || ! .venv/bin/python -c \
        "import importlib.metadata as m, yolo_prune; m.version('yolo-prune')" >/dev/null 2>&1; then
        echo "installing yolo-prune into .venv: pip install -e '.[cpu,test]' (the first time takes several minutes)" >&2
        .venv/bin/python -m pip install -q -e '.[cpu,test]' > .venv/pip-install.log 2>&1 ||
            { cat .venv/pip-install.log >&2; echo "error: pip install failed (log above)" >&2; exit 1; }
        echo "$want" > "$stamp"
    fi
}

ensure_venv
status=0  # tests/conftest.py gives Ultralytics a throw-away settings folder and keeps it offline
.venv/bin/python -m pytest -q tests "$@" || status=$?
if [[ $status -eq 5 ]]; then
    echo "error: pytest collected no tests" >&2
    exit 1
fi
exit "$status"
