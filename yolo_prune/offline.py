"""Keep Ultralytics off the network: no hub sync, no font or weight downloads, no pip installs at run time.

Imported by ``yolo_prune/__init__.py`` before anything imports Ultralytics, because Ultralytics reads these
variables once at import. A user who wants Ultralytics' online behaviour can set them in the environment first.
"""

import os

os.environ.setdefault("YOLO_OFFLINE", "true")  # is_online() -> False: no hub, no downloads, no update checks
os.environ.setdefault("YOLO_AUTOINSTALL", "false")  # check_requirements() never runs pip; it reports instead


def provide_local_fonts() -> None:
    """Ultralytics checks for Arial.ttf on every data-set check and asks the web for it when it is missing, whatever
    ``YOLO_OFFLINE`` says. Offline, give it matplotlib's bundled DejaVu Sans under those names, in Ultralytics' own
    config folder (where it would have put the download)."""
    if os.environ.get("YOLO_OFFLINE", "").lower() not in ("1", "true"):
        return
    import shutil
    from pathlib import Path

    import matplotlib
    from ultralytics.utils import USER_CONFIG_DIR

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        target = Path(USER_CONFIG_DIR) / name
        if not target.exists() and source.is_file():
            tmp = target.with_suffix(".tmp")
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
