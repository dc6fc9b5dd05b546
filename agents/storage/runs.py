"""Run folders (``<root>/<env>/<algo>_<extractor>_s<seed>[_k]``) and atomic writes into them."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import yaml
from stable_baselines3.common.base_class import BaseAlgorithm

from agents.storage.layout import (
    BEST_MODEL_FILE,
    CHECKPOINT_DIR,
    CHECKPOINT_MODELS,
    COMMAND_FILE,
    CONFIG_FILE,
    LOCK_FILE,
    MODEL_FILE,
    MODEL_FILES,
)

#: Largest text file of a run (or a preset) read: a config.yaml is a few KiB, a preset of every env id tens of KiB.
MAX_TEXT_BYTES = 1 << 20


def regular_file_size(path: Path) -> int:
    """The size of ``path`` in bytes; ``ValueError`` unless it is a regular file (or a link to one).

    A run folder from elsewhere may hold a link to ``/dev/zero`` or a pipe where a file belongs: reading one would
    never end (or fill the memory).
    """
    info = os.stat(path)  # follows links: what would be read
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(
            f"{path} is not a regular file (a device, a pipe or a link to one?): replace it with the file."
        )
    return info.st_size


def read_small_text(path: Path) -> str:
    """The text of ``path``, a regular file of at most ``MAX_TEXT_BYTES``; one ``ValueError`` naming it otherwise."""
    size = regular_file_size(path)
    if size > MAX_TEXT_BYTES:
        raise ValueError(
            f"{path} holds {size:,} bytes, more than the {MAX_TEXT_BYTES:,} a config or run file may: "
            "replace it with the file train_rl.py wrote."
        )
    return Path(path).read_text()


def env_folder_name(env_id: str) -> str:
    """A folder name for an env id: ``attn/FindTarget-v0`` -> ``attn-FindTarget-v0``."""
    return env_id.replace("/", "-").replace(":", "-")


def run_name(algo: str, extractor: str, seed: int) -> str:
    """The name of a run's folder: ``<algo>_<extractor>_s<seed>`` (a taken one gets ``_1``, ``_2``... appended)."""
    return f"{algo}_{extractor}_s{seed}"


def new_run_dir(root: str | Path, env_id: str, algo: str, extractor: str, seed: int) -> Path:
    """Create and return a fresh run folder; a taken name gets ``_1``, ``_2``... appended."""
    parent = Path(root) / env_folder_name(env_id)
    for folder in (Path(root), parent):
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"--run-dir {root}: {folder} is a file, not a folder: give a folder for the runs.")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--run-dir {root}: cannot make {parent} ({exc.strerror}): give a writable folder.") from None
    base = run_name(algo, extractor, seed)
    for k in range(10_000):
        path = parent / (base if k == 0 else f"{base}_{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"Could not find a free run folder name under {parent}; clean it up.")


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the file gets what open() would give (as the zips)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_yaml(path: str | Path, data: dict[str, Any]) -> None:
    """Atomically write plain data as YAML."""
    write_atomic(path, yaml.safe_dump(data, sort_keys=False))


def write_json(path: str | Path, data: dict[str, Any]) -> None:
    """Atomically write plain data as indented JSON."""
    write_atomic(path, json.dumps(data, indent=2) + "\n")


def save_atomic(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.

    An interrupted or failing write (an exception, Ctrl-C) leaves the previous ``path`` as it was and no
    temporary file behind; a killed process leaves at most a hidden ``.name.tmp.ext`` file, never half a
    ``path``.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        tmp.unlink(missing_ok=True)  # a leftover, or a link planted there: never written through
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def save_model_atomic(model: BaseAlgorithm, path: str | Path) -> Path:
    """Save an SB3 model to ``path`` (a ``.zip``) atomically; an interrupted save keeps the old file."""
    return save_atomic(path, model.save)


def eval_file_for(model_path: Path) -> Path:
    """Where ``train_rl.py eval`` writes its result, never over training's own ``eval.json``.

    ``eval_last.json`` beside a run's ``model.zip``, ``eval_best.json`` beside its ``best_model.zip``, else
    ``<model>_eval.json`` beside the model file (checkpoints, bare models).
    """
    names = {MODEL_FILE: "eval_last.json", BEST_MODEL_FILE: "eval_best.json"}
    return model_path.with_name(names.get(model_path.name, f"{model_path.stem}_eval.json"))


#: A checkpoint's model file: ``checkpoints/model_<steps>.zip``.
CHECKPOINT_NAME = re.compile(r"^model_(\d+)\.zip$")


def is_model_zip(path: Path) -> bool:
    """Whether ``path`` is a complete SB3 model zip (it opens and holds ``data`` and ``policy.pth``)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return {"data", "policy.pth"} <= names


def zip_damage(path: Path) -> str | None:
    """Why the model zip at ``path`` cannot be loaded, or None when it can.

    Besides what ``is_model_zip`` checks: every entry's CRC (``testzip``) and ``policy.pth`` read by
    ``torch.load(weights_only=True)``, so that an entry cut short or changed on disk is found before loading.
    """
    if not is_model_zip(path):
        return "it is not a whole model zip (no data or policy.pth)"
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            if bad is not None:
                return f"its entry {bad} fails its CRC check"
            weights = archive.read("policy.pth")
        torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    except Exception as exc:  # zipfile, zlib and torch each raise their own kinds on a damaged entry
        return f"its policy.pth does not load ({' '.join(str(exc).split())[:120]})"
    return None


def latest_good_checkpoint(run_dir: Path) -> tuple[int, Path] | None:
    """``(steps, model zip)`` of the run's latest checkpoint that loads, or None.

    A damaged later one (cut short, a CRC error, weights torch cannot read) is passed over with a warning naming it.
    """
    found = []
    for path in (Path(run_dir) / CHECKPOINT_DIR).glob(CHECKPOINT_MODELS):
        match = CHECKPOINT_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    for steps, path in sorted(found, reverse=True):
        damage = zip_damage(path)
        if damage is None:
            return steps, path
        warnings.warn(f"Checkpoint {path} is damaged ({damage}): passed over for the one before it.", stacklevel=2)
    return None


def find_model(path: str | Path, which: str = "last") -> tuple[Path, Path | None]:
    """Resolve a run folder or a model file to ``(model_zip, run_dir_or_None)``.

    Args:
        path: a run folder or a model ``.zip``.
        which: in a run folder, ``last`` (``model.zip``) or ``best`` (``best_model.zip``).

    Raises:
        FileNotFoundError: when there is no model at ``path``.
        ValueError: for a ``which`` other than ``best`` or ``last``.
    """
    if which not in MODEL_FILES:
        raise ValueError(f"which='{which}' is invalid: use 'best' or 'last'.")
    path = Path(path)
    if path.is_dir():
        model = path / MODEL_FILES[which]
        checkpoint = latest_good_checkpoint(path) if which == "last" and not is_model_zip(model) else None
        if checkpoint is not None:
            problem = "is damaged" if model.is_file() else "is missing"
            warnings.warn(
                f"{model} {problem} (the run was stopped while writing it?): using its latest good checkpoint, "
                f"{checkpoint[1]}.",
                stacklevel=2,
            )
            return checkpoint[1], path
        if not model.is_file():
            if which == "best":
                raise FileNotFoundError(
                    f"No {model.name} in {path}: no evaluation has run there yet (training evaluates every "
                    "--eval-freq steps and at the end). Use --which last."
                )
            raise FileNotFoundError(
                f"No model in {path}: expected {MODEL_FILE} there. Pass a run folder made by train_rl.py "
                "or the path of a saved .zip model."
            )
        return model, path
    if path.is_file():
        return path, _run_dir_of(path)
    if path.with_suffix(".zip").is_file():
        return find_model(path.with_suffix(".zip"))
    raise FileNotFoundError(f"No model at {path}: the path does not exist. Pass a run folder or a .zip model file.")


def is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` is a run folder train_rl.py made: a ``config.yaml`` with a model, checkpoints or command."""
    return (folder / CONFIG_FILE).is_file() and (
        (folder / MODEL_FILE).is_file() or (folder / CHECKPOINT_DIR).is_dir() or (folder / COMMAND_FILE).is_file()
    )


def run_folder_of(path: str | Path) -> Path | None:
    """The run folder ``path`` is (or lies inside), if any; ``path`` need not exist."""
    path = Path(path).resolve()
    for folder in (path, *path.parents):
        if is_run_folder(folder):
            return folder
    return None


def _run_dir_of(model_path: Path) -> Path | None:
    """The run folder a model file belongs to (its folder, or the parent of ``checkpoints/``), if any."""
    for folder in (model_path.parent, model_path.parent.parent):
        if (folder / CONFIG_FILE).is_file():
            return folder
    return None


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C while a run saved or evaluated at its end; what was saved is kept and ``--resume`` finishes the run.

    Attributes:
        run_dir: the run folder.
        stage: what was interrupted (``the final save``, ``the final evaluation``).
    """

    def __init__(self, run_dir: Path, stage: str) -> None:
        super().__init__(f"interrupted (Ctrl-C) during {stage} of {run_dir}")
        self.run_dir, self.stage = run_dir, stage


@contextlib.contextmanager
def finishing(run_dir: Path, stage: str) -> Iterator[None]:
    """Turn Ctrl-C during ``stage`` of the end of a run into ``RunInterrupted`` (which says how to finish it)."""
    try:
        yield
    except RunInterrupted:
        raise
    except KeyboardInterrupt:
        raise RunInterrupted(run_dir, stage) from None


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``run_dir`` while training; a second training of the folder is refused.

    Raises:
        ValueError: another process holds the lock (the message names its pid).
    """
    try:
        import fcntl
    except ImportError:  # no flock (Windows): no lock
        yield
        return
    path = Path(run_dir) / LOCK_FILE
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            raise ValueError(
                f"{run_dir} is being trained by another process (pid {owner}): wait for it to finish or stop it "
                "(Ctrl-C saves it) before resuming."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
