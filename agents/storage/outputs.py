"""Where commands write: one check that nothing a run keeps is replaced, and nothing is written through a link, unasked.

Every command that writes a file the user can name (``eval --video``, ``export --out``, ``plot --out``, the
``eval`` result) asks ``check_output`` first, and every run or sweep root asks ``check_output_folder``. The rule:

- a symbolic link is never written through; ``--overwrite`` replaces the link itself (the writes are atomic:
  a temporary file renamed over the path);
- an existing model zip, normalisation statistics, ``config.yaml``, or any file inside a run folder (a checkpoint,
  a log, another run's video) is replaced only with ``--overwrite``, except the command's own output for that
  run (``eval_last.json``, ``eval.mp4``, ``policy.onnx`` beside the model), which it updates;
- any other existing file (a plot or an export outside run folders) is replaced, as with any output;
- runs and sweeps never go inside another run's folder;
- a path that exists and is no regular file (a device such as ``/dev/null``, a pipe) is never written, flag or not.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from agents.storage.layout import CONFIG_FILE, STATISTICS_FILES
from agents.storage.runs import is_model_zip, run_folder_of

#: The flag that allows replacing a kept file.
OVERWRITE_FLAG = "--overwrite"
#: Normalisation statistics (``vecnormalize.pkl`` and its plain-array twin).


def kept_file(path: Path) -> str | None:
    """What ``path`` is, if it is a file no command may replace unasked; None for an ordinary file."""
    if is_model_zip(path):
        return "a model"
    if path.name in STATISTICS_FILES:
        return "a run's normalisation statistics"
    if path.name == CONFIG_FILE:
        return "a run config"
    run = run_folder_of(path.parent)
    if run is not None:
        return f"a file of the run {run}"
    return None


def check_output(
    path: str | Path, *, overwrite: bool = False, own: Iterable[str | Path] = (), flag: str = OVERWRITE_FLAG
) -> Path:
    """``path``, checked as a file a command may write (see the module doc); nothing is written or removed here.

    Args:
        path: the file the command will write (atomically: a temporary file renamed over it).
        overwrite: the user asked to replace what is there (``--overwrite``).
        own: the command's own outputs for the run it works on, which it updates without asking.
        flag: the flag named in the refusal.

    Raises:
        TypeError: ``overwrite`` is not a bool.
        ValueError: ``path`` is a folder, a device or other non-regular file, a symbolic link, or a kept file (the
            message names it and ``flag``).
    """
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite={overwrite!r} must be True or False.")
    path = Path(path)
    if path.is_symlink():
        if overwrite:
            return path
        raise ValueError(f"{path} is a symbolic link: refusing to write through it; pass {flag} to replace the link.")
    if path.is_dir():
        raise ValueError(f"{path} is a folder: give a file name to write.")
    if path.exists() and not path.is_file():  # a device, a pipe, a socket: a rename would replace the node itself
        raise ValueError(f"{path} exists and is not a regular file (a device, a pipe...): give a file name to write.")
    if overwrite or not path.exists() or path.resolve() in {Path(p).resolve() for p in own}:
        return path
    what = kept_file(path)
    if what is not None:
        raise ValueError(f"{path} exists and is {what}: refusing to replace it; pass {flag} or give another path.")
    return path


def check_output_folder(folder: str | Path, flag: str) -> Path:
    """``folder``, checked as a root for new runs or a sweep: not inside a run folder, not a file.

    Raises:
        ValueError: ``folder`` is a file, or lies inside a run folder (the message names it and ``flag``).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{flag} {folder}: it is a file, not a folder: give a folder.")
    run = run_folder_of(folder)
    if run is not None:
        raise ValueError(f"{flag} {folder} lies inside the run folder {run}: give a folder outside any run.")
    return folder


__all__ = ["OVERWRITE_FLAG", "check_output", "check_output_folder", "kept_file"]
