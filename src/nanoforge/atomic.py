"""Atomic file writes: a killed stage never leaves a half file that looks whole.

Every writer goes through `atomic_path`: the content is written to a temporary file in
the destination folder (same file system, so `os.replace` is atomic) and moved over
the destination only once it is complete. On any error the temporary file is removed
and the previous destination, if any, is untouched.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def default_mode(directory: bool = False) -> int:
    """The permissions `open`/`mkdir` would give under the current umask.

    Temporary files and folders are created private (0600/0700); outputs are not secrets,
    so they get the ordinary permissions before they take their final name.
    """
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


@contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; on success it replaces `dest` atomically."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(default_mode())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(dest: str | Path, data: bytes) -> None:
    """Write `data` to `dest` atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def write_text(dest: str | Path, text: str) -> None:
    """Write UTF-8 `text` to `dest` atomically."""
    write_bytes(dest, text.encode("utf-8"))


def write_json(dest: str | Path, obj: Any) -> None:
    """Write `obj` as indented, key-sorted JSON (stable diffs) to `dest` atomically."""
    write_text(dest, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
