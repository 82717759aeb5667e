#!/usr/bin/env bash
# Run the whole test suite in the project's virtual environment, creating and installing it first when needed.
#
#   bash scripts/test.sh                 # every test under tests/
#   bash scripts/test.sh -k voc -x       # extra arguments go to pytest (run once per test file)
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
# Each test file runs in its own Python process: a process that has loaded ncnn and OpenVINO (each with its own
# thread pools and OpenMP) beside torch, and then trained and exported for many minutes more, crashed once with a
# segmentation fault between two files of the suite; separate processes keep one file's native state from the next.
# tests/conftest.py gives Ultralytics a throw-away settings folder and keeps it offline.
status=0 collected=0 failed=()
for file in tests/test_*.py; do
    code=0
    .venv/bin/python -m pytest -q "$file" "$@" || code=$?
    case $code in
        0) collected=1 ;;
        5) ;;  # nothing in this file matched the arguments
        *) collected=1 status=1 failed+=("$file (exit $code)") ;;
    esac
done
if [[ $collected -eq 0 ]]; then
    echo "error: pytest collected no tests" >&2
    exit 1
fi
if [[ $status -ne 0 ]]; then
    echo "failed: ${failed[*]}" >&2
fi
exit "$status"
