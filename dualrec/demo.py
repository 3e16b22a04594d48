"""``dualrec demo``: one complete double-recorded session on the embedded defaults."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from agent_console import ScriptedAgent
from common import Role
from kiosk_client import Kiosk, open_source
from media.archive import signed_manifest
from media.verify import verify_recording
from storage import Database
from synthetic import AGENT_LOOK, KIOSK_LOOK

from .app import CENTRE, DATABASE, RUNNER_OPTIONS, create_app
from .demo_inspection import format_inspection, inspection_summary
from .settings import Settings


class DemoFailed(RuntimeError):
    """A process of the demo did not start, or its call did not happen (output attached)."""


async def start_server(settings: Settings) -> tuple[web.AppRunner, str]:
    """Start the app on an ephemeral port of 127.0.0.1; returns the runner and its URL."""
    runner = web.AppRunner(create_app(settings), handle_signals=False, **RUNNER_OPTIONS)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://{settings.host}:{port}"


async def demo_credentials(db: Database, branch: str = "BJ-001") -> dict[str, str]:
    """A fresh kiosk device token and agent token for this run."""
    suffix = secrets.token_hex(3)
    return {
        Role.KIOSK: await db.add_credential(Role.KIOSK, f"{branch}-kiosk-{suffix}", branch),
        Role.AGENT: await db.add_credential(Role.AGENT, f"agent-{suffix}"),
    }


async def demo_accounts(db: Database, branch: str = "BJ-001") -> list[dict[str, str]]:
    """Accounts to look at the pages with: one per staff role (password) and a kiosk."""
    suffix = secrets.token_hex(3)
    accounts = []
    for role in (r for r in Role if r in Role.staff()):
        name, password = f"demo-{role}-{suffix}", secrets.token_urlsafe(12)
        await db.add_credential(role, name)
        await db.set_password(role, name, password)
        accounts.append({"role": role, "name": name, "password": password})
    name = f"{branch}-demo-kiosk-{suffix}"
    token = await db.add_credential(Role.KIOSK, name, branch)
    accounts.append({"role": Role.KIOSK, "name": name, "device_token": token})
    return accounts


async def run_demo(
    settings: Settings,
    *,
    step_s: float = 1.5,
    service: str = "card_opening",
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Run the server, a synthetic kiosk and a scripted agent through one flow."""
    began = time.monotonic()
    runner, url = await start_server(settings)
    try:
        progress(f"server listening on {url}, data in {settings.data_dir}")
        tokens = await demo_credentials(runner.app[DATABASE])
        accounts = await demo_accounts(runner.app[DATABASE])
        trusted = runner.app[CENTRE].signing_key.public_key()
        ws_url = url.replace("http", "ws", 1) + "/ws"
        kiosk = Kiosk(
            ws_url,
            tokens[Role.KIOSK],
            open_source("synthetic", KIOSK_LOOK, pulse=True),
            service=service,
            progress=progress,
        )
        agent = ScriptedAgent(
            ws_url,
            tokens[Role.AGENT],
            open_source("synthetic", AGENT_LOOK, pulse=True),
            step_s=step_s,
            progress=progress,
        )
        kiosk_result, agent_result = await asyncio.gather(kiosk.run(), agent.run())
        session_id = agent_result.session_id
        assert session_id is not None
        hung_up = time.monotonic()
        progress("call ended, verifying the recording")
        detail = await runner.app[DATABASE].get_session(session_id)
        directory = settings.recordings_dir / session_id
        report = await asyncio.to_thread(verify_recording, directory, trusted)
        ready_s = time.monotonic() - hung_up
        job = runner.app[CENTRE].composite_jobs.get(session_id)
        if job is not None:
            await job
        composite = (await asyncio.to_thread(signed_manifest, directory)).get("composite")
        composite_s = time.monotonic() - hung_up
        progress("composite made and the call inspected, verifying again")
        report = await asyncio.to_thread(verify_recording, directory, trusted)
        inspected = await asyncio.to_thread(inspection_summary, directory)
    finally:
        await runner.cleanup()
    data = summary(
        detail,
        directory,
        report,
        kiosk_result,
        agent_result,
        elapsed_s=time.monotonic() - began,
        ready_s=ready_s,
    )
    data["accounts"] = accounts
    data["data_dir"] = str(settings.data_dir)
    data["composite"] = composite_summary(directory, composite, composite_s)
    data["inspection"] = inspected
    return data


def composite_summary(
    directory: Path, composite: dict[str, Any] | None, ready_s: float
) -> dict[str, Any] | None:
    """The composite of the signed manifest, as the summary gives it."""
    if composite is None:
        return None
    return {
        "file": str(directory / composite["file"]),
        "duration_s": round(composite["duration_s"], 2),
        "chapters": len(composite["chapters"]),
        "ready_after_hangup_s": round(ready_s, 2),
    }


def summary(
    detail: Any,
    directory: Path,
    report: Any,
    kiosk: Any,
    agent: Any,
    *,
    elapsed_s: float,
    ready_s: float,
) -> dict[str, Any]:
    """The demo's result as JSON-ready data."""
    duration_ms = max((f.end_ms for f in detail.files), default=0)
    frames: dict[str, int] = {}
    for f in detail.files:
        frames[f"{f.party}-{f.kind}"] = frames.get(f"{f.party}-{f.kind}", 0) + f.frames
    return {
        "session_id": detail.session.id,
        "service": detail.session.service,
        "status": str(detail.session.status),
        "recording_dir": str(directory),
        "files": [str(directory / Path(f.path).name) for f in detail.files],
        "duration_s": round(duration_ms / 1000, 2),
        "frames": dict(sorted(frames.items())),
        "received_by_kiosk": kiosk.received_frames,
        "received_by_agent": agent.received_frames,
        "evidence": [
            {"step": e.step, "kind": e.kind, "file": e.file, "sha256": e.sha256}
            for e in detail.evidence
        ],
        "workflow": [
            {
                "event": e.event,
                "from": e.source,
                "to": e.target,
                "offset_s": None if e.offset_ms is None else round(e.offset_ms / 1000, 2),
            }
            for e in detail.events
        ],
        "verified": report.ok,
        "problems": report.problems,
        "ready_after_hangup_s": round(ready_s, 2),
        "elapsed_s": round(elapsed_s, 1),
    }


def format_summary(data: dict[str, Any]) -> str:
    """The demo's result for people."""
    lines = [
        f"session      {data['session_id']}  ({data['service']}, {data['status']})",
        f"recording    {data['recording_dir']}  ({len(data['files'])} files, "
        f"{data['duration_s']:.1f} s)",
        "frames       " + ", ".join(f"{k} {v}" for k, v in data["frames"].items()),
        "workflow",
    ]
    for step in data["workflow"]:
        at = "   —  " if step["offset_s"] is None else f"{step['offset_s']:6.2f}s"
        lines.append(f"  {at}  {step['event']:<26} {step['from']} -> {step['to']}")
    if data.get("evidence"):
        kinds = [f"{e['kind']} ({e['step']})" for e in data["evidence"]]
        lines.append(f"evidence     {len(kinds)} items: " + ", ".join(kinds))
    verdict = "verified OK" if data["verified"] else "NOT OK: " + "; ".join(data["problems"])
    lines.append(f"recording    {verdict} ({data['ready_after_hangup_s']:.2f} s after hang-up)")
    if data.get("composite"):
        c = data["composite"]
        lines.append(
            f"composite    {c['file']} ({c['duration_s']:.1f} s, {c['chapters']} chapters, "
            f"{c['ready_after_hangup_s']:.2f} s after hang-up)"
        )
    if data.get("inspection"):
        lines += format_inspection(data["inspection"])
    if data.get("nodes"):
        from .demo_nodes import format_nodes

        lines += format_nodes(data)
    lines.append(f"total        {data['elapsed_s']:.1f} s")
    if data.get("accounts"):
        database = f" --database-url {data['database_url']}" if data.get("database_url") else ""
        command = data.get("command", "dualrec")
        lines += [
            "",
            "To look at it in the browser, start the server on the same data:",
            f"  {command} serve --data-dir {data['data_dir']}{database}",
            "and sign in at http://127.0.0.1:8080/console/login as",
        ]
        if command.endswith("/dualrec"):  # not on the PATH: its virtual env is not active
            activate = command.removesuffix("dualrec") + "activate"
            lines.insert(-1, f"(or `. {activate}` first, which puts `dualrec` on the PATH)")
        for account in data["accounts"]:
            if "password" in account:
                lines.append(
                    f"  {account['role']:<11}{account['name']}  password {account['password']}"
                )
            else:
                lines.append(
                    f"  kiosk page http://127.0.0.1:8080/kiosk/enrol  "
                    f"device token {account['device_token']}"
                )
    return "\n".join(lines)
