"""How to run this very ``dualrec`` from a shell, for the commands dualrec prints.

``./dev demo`` installs dualrec into the checkout's ``.venv`` without activating it, so
a bare ``dualrec`` is not found there; a printed command must work where it is pasted.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def dualrec_command(cwd: Path | None = None, path: str | None = None) -> str:
    """``dualrec`` if the shell finds this one by that name, else the path of this one's
    script (relative to ``cwd`` when inside it), else ``python -m dualrec``."""
    script = Path(sys.executable).parent / "dualrec"  # the console script beside python
    if not script.is_file():
        return f"{sys.executable} -m dualrec"
    found = shutil.which("dualrec", path=os.environ.get("PATH") if path is None else path)
    if found is not None and Path(found).resolve() == script.resolve():
        return "dualrec"
    here = (cwd or Path.cwd()).resolve()
    absolute = Path(os.path.abspath(script))
    try:
        return str(absolute.relative_to(here))  # has a slash: the shell takes it as a path
    except ValueError:
        return str(absolute)
