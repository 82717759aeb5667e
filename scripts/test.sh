#!/usr/bin/env bash
# Run the whole test suite in the project's virtual environment, creating and installing it first when needed.
#
#   bash scripts/test.sh                 # every test under tests/
#   bash scripts/test.sh -k voc -x       # extra arguments go to pytest
#   PYTHON=python3.12 bash scripts/test.sh
#
# The first run creates .venv and installs yolo-prune with `pip install -e '.[cpu,openvino,ncnn,qat,test]'`
# (several minutes: torch alone is large); later runs reuse it and reinstall only when pyproject.toml has changed.
# Exits non-zero when a test fails or when no test was collected at all (pytest's exit code 5), so that CI
# cannot pass on an empty run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/venv.sh  # defines ensure_venv
ensure_venv
status=0  # tests/conftest.py gives Ultralytics a throw-away settings folder and keeps it offline
.venv/bin/python -m pytest -q tests "$@" || status=$?
if [[ $status -eq 5 ]]; then
    echo "error: pytest collected no tests" >&2
    exit 1
fi
exit "$status"
