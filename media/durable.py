"""Writing a whole file so that it, and its name, survive a crash (blocking)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from .errors import IntegrityError


def write_durably(path: Path, data: bytes, mode: int, *, replace: bool) -> bool:
    """Write ``data`` to ``path`` through an fsync'd temporary file, then fsync the folder.

    With ``replace`` an existing file is replaced; without it an existing file is left as
    it is and False is returned. Raises IntegrityError when the file cannot be written.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # link() refuses to replace a file created meanwhile: then return False.
        os.replace(tmp, path) if replace else os.link(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)  # the new name itself must survive a crash
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except FileExistsError:
        return False
    except OSError as exc:
        raise IntegrityError(f"cannot write {path}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return True
