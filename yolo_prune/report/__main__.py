"""``python -m yolo_prune.report RUN_DIR``: regenerate a run directory's plots, report.md and report.html."""

import sys

from yolo_prune.report.render import main

if __name__ == "__main__":
    sys.exit(main())
