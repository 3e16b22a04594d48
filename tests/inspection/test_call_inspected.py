"""A whole call inspected end to end by its post-call job (the embedded default: in the
server's process): the report chained after the composite, signed, verified, stored, shown.
"""

from __future__ import annotations

import asyncio
import json
import sys

from common import MANIFEST_FILE, RecordingLayout
from inspection import REPORT_FILE, Verdict, inspect_part
from media import load_or_create_signing_key
from media.verify import verify_recording
from tests.support import RunningServer, run_session
from workflow import load_flows


async def _inspection_signed(manifest: str) -> None:
    """Wait for the post-call jobs: the composite, then the inspection signed after it."""
    for _ in range(900):
        try:
            if '"inspection"' in await asyncio.to_thread(_read, manifest):
                return
        except FileNotFoundError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError("the part was not inspected by its job")


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read()


async def _dualrec(*args: str) -> tuple[int | None, bytes, bytes]:
    """Run the ``dualrec`` command; its exit status and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dualrec",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode, out, err


async def test_a_whole_call_is_inspected_by_its_job_chained_and_verified(
    server: RunningServer,
) -> None:
    session_id = await run_session(server)
    recordings = server.settings.recordings_dir
    folder = RecordingLayout(session_id).directory(recordings)
    await _inspection_signed(str(folder / MANIFEST_FILE))
    key = load_or_create_signing_key(server.settings.signing_key_path)

    # The job made it; asked again, the same report is shown, not made again.
    done = await inspect_part(server.db, recordings, RecordingLayout(session_id), load_flows(), key)

    report = done.report
    assert not done.made and report.session_id == session_id and report.flow == "card_opening"
    assert report.steps[0].name == "identity_check" and len(report.steps) >= 4
    # The synthetic cameras show colours, not faces: the face checks fail, and say where.
    assert "customer_face" in report.failed() and report.verdict is Verdict.FAIL
    face = next(c for c in report.steps[0].checks if c.name == "customer_face")
    assert face.spans and face.spans[0].start_ms <= report.steps[0].start_ms + 500
    # What the call did do is found done: both parties heard, every step's evidence.
    part_checks = {c.name: c.verdict for c in report.checks}
    assert part_checks == {
        "kiosk_audio": Verdict.PASS,
        "agent_audio": Verdict.PASS,
        "evidence_order": Verdict.PASS,
        # The ID photo is a still of that camera: no face to compare, a person judges.
        "customer_identity": Verdict.NEEDS_REVIEW,
    }
    identity = next(c for c in report.checks if c.name == "customer_identity")
    assert identity.detail == "no face in the ID photo"
    for step in report.steps:
        for check in step.checks:
            if check.name in ("evidence", "signature", "kiosk_picture", "agent_picture"):
                assert check.verdict is Verdict.PASS, (step.name, check.name, check.detail)
    # The report is a file of the recording: chained after the composite, signed, verified.
    manifest = json.loads((folder / MANIFEST_FILE).read_text("utf-8"))
    files = [e["file"] for e in manifest["chain"]["entries"]]
    assert files[-1] == REPORT_FILE and "composite.mp4" in files
    assert manifest["inspection"]["verdict"] == "fail" and "composite" in manifest
    verified = verify_recording(folder, key.public_key())
    assert verified.ok, verified.problems
    data_dir = str(server.settings.data_dir)
    status, out, err = await _dualrec("verify", session_id, "--data-dir", data_dir)
    assert status == 0, (out.decode(), err.decode())
    # Stored for search by verdict and by failed check.
    stored = await server.db.get_inspection(session_id)
    assert stored is not None and stored.verdict == "fail" and "customer_face" in stored.failed
    assert stored.file == f"{session_id}/{REPORT_FILE}"
    by_check = await server.db.search_inspections(failed_check="customer_face")
    assert [i.session_id for i in by_check] == [session_id]
    assert await server.db.search_inspections(verdict="pass") == []
    assert await server.db.search_inspections(failed_check="signature") == []
    # `dualrec inspect` shows the report it has (not made again), non-zero for a fail.
    status, out, err = await _dualrec("inspect", session_id, "--data-dir", data_dir, "--json")
    assert status == 1, err.decode()
    shown = json.loads(out)
    assert shown["verdict"] == "fail" and shown["inspected_at"] == report.inspected_at
    assert [
        e["file"] for e in json.loads((folder / MANIFEST_FILE).read_text())["chain"]["entries"]
    ].count(REPORT_FILE) == 1
