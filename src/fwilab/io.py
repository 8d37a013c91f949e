"""Atomic file writes (a reader sees the old file or the complete new one, never half of one) and fwilab's cache folder."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write`` on a temporary file beside ``path``, fsync it, then rename it into place.

    On any error (a full disk included) the temporary file is removed and ``path`` is untouched; an
    OS error names ``path`` (a write to a full disk names no file by itself).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the process umask applies, as for open()
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno is not None:
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    return path


def check_readable(path: str | os.PathLike) -> None:
    """Raise the OS error (naming ``path``: permission, I/O) when ``path`` cannot be opened and read, so that
    an unreadable file is reported as such and not as a damaged one by a parser that reads it next."""
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(path)) from None


def not_a_file(path: str | os.PathLike) -> str:
    """Why ``path`` cannot be read as a file, for a message: a directory given where a file belongs, or missing."""
    return "is a directory, not a file" if Path(path).is_dir() else "does not exist"


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Atomically write ``payload`` as indented JSON."""
    text = json.dumps(payload, indent=2, sort_keys=False) + "\n"
    return atomic_write(path, lambda handle: handle.write(text.encode()))


def cache_dir() -> Path:
    """fwilab's own cache, wherever the program is started: ``$FWILAB_DATA_DIR``, else ``$XDG_CACHE_HOME/fwilab``,
    else ``~/.cache/fwilab`` (generated data sets, data-check results)."""
    if os.environ.get("FWILAB_DATA_DIR"):
        return Path(os.environ["FWILAB_DATA_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "fwilab"
