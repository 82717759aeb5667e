"""Keep Ultralytics off the network: no hub sync, no font or weight downloads, no pip installs at run time.

Imported by ``yolo_prune/__init__.py`` before anything imports Ultralytics, because Ultralytics reads these
variables once at import. A user who wants Ultralytics' online behaviour can set them in the environment first.
"""

import os

os.environ.setdefault("YOLO_OFFLINE", "true")  # is_online() -> False: no hub, no downloads, no update checks
os.environ.setdefault("YOLO_AUTOINSTALL", "false")  # check_requirements() never runs pip; it reports instead
