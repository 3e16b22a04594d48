"""``dualrec inspect``: inspect a closed recording, or show the inspection it has."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from common import RecordingLayout
from media import IntegrityError, load_or_create_signing_key
from storage import Database, StorageError
from workflow import load_flows

from .analyse import Limits
from .errors import InspectionError
from .report import InspectionReport, format_report
from .run import inspect_locked, inspect_part


async def _inspect(
    parts: list[tuple[RecordingLayout, Path]],
    recordings_dir: Path,
    key_path: Path,
    database_url: str | None,
    limits: Limits | None,
    review_sample_share: float,
) -> list[InspectionReport]:
    key = await asyncio.to_thread(load_or_create_signing_key, key_path)
    flows = load_flows()
    stored = database_url is not None and all(
        folder.resolve().is_relative_to(recordings_dir.resolve()) for _, folder in parts
    )
    if not stored or database_url is None:  # a folder copied out: no database to tell
        done = [await inspect_locked(f, flows, key, limits) for _, f in parts]
        return [d.report for d in done]
    # The sampling rule of the review queue is the server's, for a part inspected here.
    async with Database(database_url, review_sample_share=review_sample_share) as db:
        return [
            (await inspect_part(db, recordings_dir, layout, flows, key, limits=limits)).report
            for layout, _ in parts
        ]


def run_inspect(
    target: str,
    recordings_dir: Path,
    key_path: Path,
    database_url: str | None,
    *,
    as_json: bool,
    limits: Limits | None = None,
    review_sample_share: float = 0.1,
) -> int:
    """Inspect (or show) every part of a session; 0 when all pass, 1 otherwise, 2 if unusable."""
    path = Path(target)
    if not path.exists():
        path = recordings_dir / target
    if not path.is_dir():
        print(f"dualrec inspect: no recording at {path}", file=sys.stderr)
        return 2
    if not key_path.is_file():  # a new key would sign what the server cannot vouch for
        print(f"dualrec inspect: no signing key at {key_path}: give --data-dir", file=sys.stderr)
        return 2
    parts = list(RecordingLayout.parts_in(path))
    try:
        reports = asyncio.run(
            _inspect(parts, recordings_dir, key_path, database_url, limits, review_sample_share)
        )
    except (InspectionError, IntegrityError, StorageError) as exc:
        print(f"dualrec inspect: {exc}", file=sys.stderr)
        return 1
    if as_json:
        data = [report.to_dict() for report in reports]
        print(json.dumps(data[0] if len(data) == 1 else data, ensure_ascii=False, indent=2))
    else:
        print("\n".join(format_report(report) for report in reports))
    return 0 if all(report.verdict.value == "pass" for report in reports) else 1
