"""The workflow package stays pure: no web, media, database or S3 libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import workflow
from tests.imports import imported_roots

FORBIDDEN = frozenset({"aiohttp", "aiortc", "av", "sqlalchemy", "boto3", "botocore"})
PACKAGE_DIR = Path(workflow.__file__).resolve().parent


def test_sources_import_no_io_libraries() -> None:
    sources = sorted(PACKAGE_DIR.rglob("*.py"))
    assert len(sources) >= 4
    offending = {
        str(source.relative_to(PACKAGE_DIR)): sorted(imported_roots(source) & FORBIDDEN)
        for source in sources
    }
    assert {name: roots for name, roots in offending.items() if roots} == {}


def test_import_loads_no_io_libraries() -> None:
    # A fresh interpreter, so that other tests' imports cannot hide or fake a leak.
    code = (
        "import sys, workflow; workflow.load_flows(); "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE_DIR.parent,
    )
    assert result.stdout.strip() == "[]"
