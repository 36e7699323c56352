"""Where symopt keeps what it generates (the numba backend's kernels), and how it trusts it.

Ground floor: this module imports nothing of symopt's, so that any layer may use it.

The folder is ``$SYMOPT_CACHE_DIR``, else ``$XDG_CACHE_HOME/symopt``, else ``~/.cache/symopt``, as the
XDG base directory specification resolves it: ``~`` is expanded, a relative ``XDG_CACHE_HOME`` is
ignored, and an empty ``HOME`` falls back to the account's home directory, never to ``/``. A cache
runs code: a file in it is used only from a folder that only its owner can write (see
:func:`private`), and only if its content hashes to its name (see :func:`read`).

Example:
    >>> from symopt import cache
    >>> cache.digest(b"")  # what names an empty file
    'e3b0c44298fc1c149afbf4c8'
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import stat
import sys
import tempfile
import threading
from pathlib import Path

_LOCK = threading.Lock()
_PRIVATE: dict[str, Path | None] = {}  # a folder asked for -> the private folder used for it (None: none)


def location() -> Path | None:
    """The cache folder, resolved as XDG says; None when there is no home to put it in."""
    given = os.environ.get("SYMOPT_CACHE_DIR")
    if given:
        return Path(os.path.expanduser(given))
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(os.path.expanduser(xdg)):  # the specification ignores a relative one
        return Path(os.path.expanduser(xdg)) / "symopt"
    home = os.environ.get("HOME") or _account_home()
    if not home or not os.path.isabs(home) or Path(home) == Path("/"):
        return None
    return Path(home) / ".cache" / "symopt"


def _account_home() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError, OSError):
        return ""


def digest(data: bytes) -> str:
    """The name-part of content ``data``: the first 24 hex digits of its SHA-256."""
    return hashlib.sha256(data).hexdigest()[:24]


def _is_private(folder: Path) -> bool:
    """``folder`` is a real folder (not a link), owned by this user, that no one else can write."""
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        return False
    return not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def private(sub: str) -> Path | None:
    """The folder ``<cache>/<sub>``, created (mode 0700) if needed, when it is private; else a private
    temporary folder for this process, with a one-line warning on stderr; None if no folder can be
    made at all (the caller then runs uncached)."""
    base = location()
    key = f"{base}/{sub}"
    with _LOCK:
        if key in _PRIVATE:
            return _PRIVATE[key]
        folder = None if base is None else base / sub
        chosen = None
        if folder is not None:
            try:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                if _is_private(folder):
                    chosen = folder
                else:
                    chosen = _temporary(f"the cache folder {folder} can be written by others (or is not this "
                                        "user's): using a private folder for this run")
            except OSError as exc:
                chosen = _temporary(f"cannot use the cache folder {folder} ({exc.strerror or exc}): "
                                    "using a private folder for this run")
        else:
            chosen = _temporary("no home folder for the cache (set SYMOPT_CACHE_DIR): using a private folder "
                                "for this run")
        _PRIVATE[key] = chosen
        return chosen


def _temporary(why: str) -> Path | None:
    try:
        folder = Path(tempfile.mkdtemp(prefix="symopt-cache-"))  # mode 0700, this user's
    except OSError:
        folder = None
    else:
        atexit.register(shutil.rmtree, folder, True)
    _warn(why if folder is not None else why.split(":")[0] + ": running uncached")
    return folder


def _warn(message: str) -> None:
    with contextlib.suppress(Exception):  # a closed or broken stderr: say nothing
        print(f"symopt: warning: {' '.join(message.split())}", file=sys.stderr)


def read(path: Path) -> bytes | None:
    """The bytes of ``path`` if it is a regular file (not a link) whose content hashes to the digest
    in its name (``<prefix>_<digest>.<suffix>``); None otherwise (missing, damaged, edited, planted)."""
    expected = path.stem.rpartition("_")[2]
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        with open(path, "rb") as file:
            data = file.read()
    except OSError:
        return None
    return data if digest(data) == expected else None


def store(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` whole (a temporary file renamed over it); False if it cannot be
    written (a full disk, a read-only folder), leaving nothing behind."""
    handle, temporary = None, None
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".symopt-", suffix=".tmp")
        with os.fdopen(handle, "wb") as file:
            handle = None
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)  # over a directory or a damaged file: a directory fails, below
        return True
    except OSError:
        if handle is not None:
            with contextlib.suppress(OSError):
                os.close(handle)
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        return False
