"""Durable small files: the witness's and the monitor's state.

``write_atomic(path, data)`` writes a temporary file beside ``path``, fsyncs it,
renames it over ``path`` and fsyncs the directory, so after a crash (kill -9,
power loss) ``path`` holds either the old bytes or the new ones, never a mix.

Rule: a caller that promises something based on the new state (a witness's
cosignature) makes the promise only after ``write_atomic`` has returned.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: str | os.PathLike[str], data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically and durably (file mode ``mode``)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
