"""The ``dualrec`` command: serve, demo, kiosk, verify, credentials and db."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

from common import RecordingLayout

from .settings import Settings, SettingsError


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_environment().with_changes(
        data_dir=getattr(args, "data_dir", None),
        database_url=getattr(args, "database_url", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        segment_s=getattr(args, "segment_seconds", None),
        timezone=getattr(args, "timezone", None),
        tts_speed_wpm=getattr(args, "tts_speed", None),
        s3_bucket=getattr(args, "s3_bucket", None),
        s3_endpoint=getattr(args, "s3_endpoint", None),
    )


def _progress_printer() -> tuple[float, Callable[[str], None]]:
    """A progress line printer for stderr, timed from now."""
    began = time.monotonic()

    def progress(text: str) -> None:
        print(f"[{time.monotonic() - began:5.1f}s] {text}", file=sys.stderr, flush=True)

    return began, progress


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server until interrupted."""
    from aiohttp import web

    from dualrec.app import RUNNER_OPTIONS, create_app

    settings = _settings(args)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    web.run_app(create_app(settings), host=settings.host, port=settings.port, **RUNNER_OPTIONS)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """One complete double-recorded session, printed as a summary."""
    from .demo import format_summary, run_demo

    settings = _settings(args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _, progress = _progress_printer()
    data = asyncio.run(
        run_demo(settings, step_s=args.step_seconds, service=args.service, progress=progress)
    )
    print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else format_summary(data))
    return 0 if data["verified"] else 1


def cmd_kiosk(args: argparse.Namespace) -> int:
    """Run one kiosk visit against a server."""
    from kiosk_client import Kiosk, SourceError, open_source
    from synthetic import KIOSK_LOOK

    token = args.token or os.environ.get("DUALREC_KIOSK_TOKEN")
    if not token:
        print(
            "dualrec kiosk: a device token is needed (--token or DUALREC_KIOSK_TOKEN)",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.WARNING)
    try:
        tracks = open_source(args.source, KIOSK_LOOK, pulse=args.pulse)
    except SourceError as exc:
        print(f"dualrec kiosk: {exc}", file=sys.stderr)
        return 2
    url = args.server.rstrip("/").replace("http", "ws", 1) + "/ws"
    _, progress = _progress_printer()
    kiosk = Kiosk(
        url,
        token,
        tracks,
        service=args.service,
        language=args.language,
        resume=args.resume,
        progress=progress,
    )
    result = asyncio.run(kiosk.run())
    print(
        json.dumps(
            {
                "session_id": result.session_id,
                "steps": result.steps,
                "received_frames": result.received_frames,
                "ended": result.ended.to_dict() if result.ended else None,
            },
            indent=2,
        )
    )
    return 0


def cmd_flows(args: argparse.Namespace) -> int:
    """List the flows, show one (Mermaid or text), or write the docs/flows pages."""
    from workflow import UnknownFlow, get_flow, load_flows, to_mermaid

    from .flowdocs import DOCS_DIR, flow_list, flow_text, write_pages

    flows = load_flows()
    if args.action == "show":
        try:
            flow = get_flow(flows, args.name)
        except UnknownFlow as exc:
            print(f"dualrec flows: {exc}", file=sys.stderr)
            return 2
        shown = to_mermaid(flow, args.language) if args.format == "mermaid" else None
        print(shown or flow_text(flow, args.language), end="")
    elif args.action == "docs":
        for path in write_pages(flows, args.out or DOCS_DIR):
            print(path)
    else:
        print(flow_list(flows, args.language))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Read a recording back and report; non-zero when it is not complete and readable."""
    from media import IntegrityError, key_id, load_public_key
    from media.verify import format_report, verify_recording

    settings = _settings(args)
    path = Path(args.target)
    if not path.exists():
        path = settings.recordings_dir / args.target
    # The manifest must be signed by this server's key (or the one given), so that a
    # re-signed forgery is caught too.
    key_file = args.public_key or settings.signing_key_path
    trusted = None
    if args.public_key or key_file.exists():
        try:
            trusted = load_public_key(_public_pem(key_file))
        except (OSError, IntegrityError) as exc:
            print(f"dualrec verify: cannot read the key {key_file}: {exc}", file=sys.stderr)
            return 2
    # Say which key is trusted: "untrusted key" alone hides that it came from ./var.
    trust = f"trusting key {key_id(trusted)} from" if trusted else "no key at"
    note = "" if trusted else "; the signature is checked against the manifest's own key only"
    print(f"dualrec verify: {trust} {key_file}{note}", file=sys.stderr)
    # A session resumed after a restart has one folder per recording part: the session's
    # folder (part 1) and one sub-folder per later part. Each part is verified on its own.
    parts = [folder for _, folder in RecordingLayout.parts_in(path)] if path.is_dir() else [path]
    reports = [verify_recording(part, trusted) for part in parts]
    if args.json:
        data = [report.to_dict() for report in reports]
        print(json.dumps(data[0] if len(data) == 1 else data, indent=2))
    else:
        print("\n".join(format_report(report) for report in reports))
    return 0 if all(report.ok for report in reports) else 1


def _public_pem(path: Path) -> bytes:
    """The public key PEM from a public key file or the server's private key file."""
    from media import load_or_create_signing_key, public_key_pem

    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        return public_key_pem(load_or_create_signing_key(path))
    return data


def cmd_verify_log(args: argparse.Namespace) -> int:
    """Check the hash-chained access log; non-zero at the first broken entry."""
    from storage import Database, access_log

    async def check() -> access_log.LogReport:
        async with Database(_settings(args).database) as db:
            return await access_log.verify(db)

    report = asyncio.run(check())
    if report.ok:
        print(f"access log intact: {report.entries} entries, last hash {report.last_hash[:16]}")
        return 0
    print(f"access log BROKEN at entry {report.first_broken}: {report.problem}")
    return 1


def cmd_keys(args: argparse.Namespace) -> int:
    """Print the public half of the server's recording-signing key."""
    from media import key_id, load_or_create_signing_key, public_key_pem

    key = load_or_create_signing_key(_settings(args).signing_key_path)
    print(public_key_pem(key).decode(), end="")
    print(f"# key id {key_id(key.public_key())}", file=sys.stderr)
    return 0


def _read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The new user's password: from stdin, typed twice, or made up; and whether made up."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if sys.stdin.isatty():
        first = getpass.getpass(f"password for {args.name}: ")
        if first != getpass.getpass("again: "):
            raise SettingsError("the two passwords differ")
        return first, False
    return secrets.token_urlsafe(12), True


def cmd_credential(args: argparse.Namespace) -> int:
    """Create a kiosk device token, or a staff user with a password and a token.

    The token is printed once on stdout; a made-up password is printed once on stderr.
    """
    from storage import Database, StorageError

    staff = args.role != "kiosk"
    password, made_up = _read_password(args) if staff else ("", False)

    async def add() -> str:
        async with Database(_settings(args).database) as db:
            if staff:
                from storage import check_password_strength

                check_password_strength(password)
            token = await db.add_credential(args.role, args.name, args.branch)
            if staff:
                await db.set_password(args.role, args.name, password)
            return token

    _settings(args).data_dir.mkdir(parents=True, exist_ok=True)
    try:
        token = asyncio.run(add())
    except StorageError as exc:
        print(f"dualrec: {exc}", file=sys.stderr)
        return 1
    print(token)
    if made_up:
        print(f"password for {args.name} (shown once): {password}", file=sys.stderr)
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    """Upgrade the database schema to the newest revision, or show its revision."""
    from storage import Database, StorageError

    settings = _settings(args)

    async def run() -> str:
        db = Database(settings.database)
        try:
            if args.action == "upgrade":
                return (await db.upgrade_schema()).describe()
            return f"database schema {(await db.schema_state()).describe()}"
        finally:
            await db.close()

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.action == "upgrade" and settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        print(asyncio.run(run()))
    except StorageError as exc:
        # The message names the driver's error, never the URL (it may hold a password).
        print(f"dualrec db {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="dualrec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def data_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", type=Path, help="database and recordings (default ./var)")
        p.add_argument("--database-url", help="e.g. postgresql://user@host/db (default SQLite)")

    serve = sub.add_parser("serve", help="run the server")
    data_options(serve)
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument("--segment-seconds", type=float, help="recording segment length (10)")
    serve.add_argument(
        "--timezone", help="IANA time zone burned into composites (default Asia/Shanghai)"
    )
    serve.add_argument("--tts-speed", type=int, help="announcement speed, words a minute (175)")
    serve.add_argument(
        "--s3-bucket", help="store recordings in this Object Lock bucket (or DUALREC_S3_BUCKET)"
    )
    serve.add_argument("--s3-endpoint", help="S3-compatible endpoint URL (default AWS)")
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="run one complete double-recorded session")
    data_options(demo)
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.add_argument("--step-seconds", type=float, default=1.5, help="pause between steps")
    demo.add_argument("--service", default="card_opening", help="the flow (dualrec flows)")
    demo.set_defaults(func=cmd_demo)

    kiosk = sub.add_parser("kiosk", help="run a kiosk against a server")
    kiosk.add_argument("--server", default="http://127.0.0.1:8080")
    kiosk.add_argument("--service", default="card_opening")
    kiosk.add_argument("--source", default="synthetic", help="synthetic, camera or a file")
    kiosk.add_argument("--pulse", action="store_true", help="flash and beep every 2 s")
    kiosk.add_argument("--language", default="zh-CN", choices=["zh-CN", "en"])
    kiosk.add_argument("--token", help="device token (or DUALREC_KIOSK_TOKEN)")
    kiosk.add_argument("--resume", metavar="SESSION_ID", help="resume a session cut by a restart")
    kiosk.set_defaults(func=cmd_kiosk)

    flows = sub.add_parser("flows", help="the business flows: list, show, docs")
    flows.add_argument("--language", default="en", choices=["zh-CN", "en"])
    flows.set_defaults(func=cmd_flows, action="list")
    flow_actions = flows.add_subparsers(dest="action")
    flow_actions.add_parser("list", help="list the flows with their titles")
    show = flow_actions.add_parser("show", help="one flow as a Mermaid state diagram or text")
    show.add_argument("name")
    show.add_argument("--format", choices=["mermaid", "text"], default="text")
    show.add_argument("--language", default="en", choices=["zh-CN", "en"])
    docs = flow_actions.add_parser("docs", help="write docs/flows/<name>.md for every flow")
    docs.add_argument("--out", type=Path, help="the folder (default docs/flows)")

    verify = sub.add_parser("verify", help="check a recording")
    verify.add_argument("target", help="a session id, a recording folder or a segment file")
    data_options(verify)
    verify.add_argument("--json", action="store_true")
    verify.add_argument(
        "--public-key", type=Path, help="trusted public key PEM (default: this server's key)"
    )
    verify.set_defaults(func=cmd_verify)

    verify_log = sub.add_parser("verify-log", help="check the hash-chained access log")
    data_options(verify_log)
    verify_log.set_defaults(func=cmd_verify_log)

    keys = sub.add_parser("keys", help="the recording-signing key")
    export = keys.add_subparsers(dest="action", required=True).add_parser(
        "export", help="print the public key (PEM) for auditors"
    )
    data_options(export)
    export.set_defaults(func=cmd_keys)

    db = sub.add_parser("db", help="the database schema: upgrade, current")
    db_actions = db.add_subparsers(dest="action", required=True)
    for name, text in (
        ("upgrade", "migrate the schema to the newest revision (the server does it on start)"),
        ("current", "show the schema revision"),
    ):
        action = db_actions.add_parser(name, help=text)
        data_options(action)
        action.set_defaults(func=cmd_db)

    for group, role, what in (("kiosks", "kiosk", "enroll"), ("users", None, "add")):
        p = sub.add_parser(group, help=f"{what} {group}")
        action = p.add_subparsers(dest="action", required=True).add_parser(what)
        action.add_argument("name")
        if role is None:
            action.add_argument(
                "--role", required=True, choices=["agent", "supervisor", "auditor", "admin"]
            )
        else:
            action.set_defaults(role=role)
        action.add_argument("--branch", help="the branch (kiosks)")
        if role is None:
            action.add_argument(
                "--password-stdin",
                action="store_true",
                help="read the password from stdin (else asked for, or made up and printed)",
            )
        data_options(action)
        action.set_defaults(func=cmd_credential)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dualrec`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"dualrec: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
