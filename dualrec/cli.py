"""The ``dualrec`` command: init, serve, demo, kiosk, verify, credentials and db."""

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

from . import arguments
from .settings import Settings, SettingsError


def _settings(args: argparse.Namespace) -> Settings:
    """The settings of the file, the environment and this command's flags, in one step."""
    from .config import load_settings

    return load_settings(vars(args), os.environ)


def _progress_printer() -> tuple[float, Callable[[str], None]]:
    """A progress line printer for stderr, timed from now."""
    began = time.monotonic()

    def progress(text: str) -> None:
        print(f"[{time.monotonic() - began:5.1f}s] {text}", file=sys.stderr, flush=True)

    return began, progress


def cmd_init(args: argparse.Namespace) -> int:
    """Make a data folder (keys, database schema, marker) and say what was made."""
    from storage import StorageError

    from .datafolder import initialise

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        print("\n".join(asyncio.run(initialise(_settings(args)))))
    except StorageError as exc:  # names the driver's error, never the URL
        print(f"dualrec init: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server until interrupted."""
    from aiohttp import web

    from dualrec.app import RUNNER_OPTIONS, create_app
    from dualrec.tls import server_tls
    from observability import configure_logging

    from .config import load
    from .datafolder import check_data_folder, initialise

    loaded = load(vars(args), os.environ)
    settings = loaded.settings
    settings.check_cluster()
    tls = server_tls(settings)
    if settings.init:
        asyncio.run(initialise(settings, schema=False))  # the app upgrades the schema
    check_data_folder(settings)
    configure_logging(settings.log_level, settings.log_format, settings.node_name)
    logging.getLogger("dualrec").info("%s", loaded.describe())
    # With JSON logs, aiohttp's "Running on" banner is a log line too, not bare stdout.
    banner = logging.getLogger("dualrec").info if settings.log_format == "json" else print
    app = create_app(settings)
    web.run_app(
        app, host=settings.host, port=settings.port, ssl_context=tls, print=banner, **RUNNER_OPTIONS
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Do post-call jobs from Redis until SIGTERM (which lets the job under way finish)."""
    from jobs import QUEUE_NAME

    from .datafolder import check_data_folder
    from .jobs_setup import run_worker

    settings = _settings(args)
    if settings.redis_url is None:
        raise SettingsError("dualrec worker needs the nodes' Redis: --redis-url (redis_url)")
    check_data_folder(settings, command="worker")
    from observability import configure_logging  # as serve: text or JSON lines, to stderr

    configure_logging(settings.log_level, settings.log_format, settings.node_name)
    asyncio.run(run_worker(settings, args.queue or QUEUE_NAME, args.metrics_port))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """One complete double-recorded session, printed as a summary."""
    from .datafolder import initialise
    from .demo import DemoFailed, format_summary, run_demo
    from .launcher import dualrec_command

    settings = _settings(args)
    asyncio.run(initialise(settings, schema=False))  # the demo's own folder
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _, progress = _progress_printer()
    run = run_demo
    if args.nodes == 2:
        from .demo_nodes import run_nodes_demo

        run = run_nodes_demo
    elif args.redis_url is not None:
        raise SettingsError("--redis-url is for the demo of several nodes (--nodes 2)")
    try:
        data = asyncio.run(
            run(settings, step_s=args.step_seconds, service=args.service, progress=progress)
        )
    except DemoFailed as exc:
        print(f"dualrec demo: {exc}", file=sys.stderr)
        return 1
    data["command"] = dualrec_command()
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


def cmd_inspect(args: argparse.Namespace) -> int:
    """Inspect a closed recording (or show its inspection); non-zero unless all pass."""
    from inspection.command import run_inspect

    from .jobs_setup import inspection_limits

    settings = _settings(args)
    return run_inspect(
        args.target,
        settings.recordings_dir,
        settings.signing_key_path,
        settings.database,
        as_json=args.json,
        limits=inspection_limits(settings),
        review_sample_share=settings.review_sample_share,
    )


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

    from .datafolder import check_data_folder

    settings = _settings(args)
    check_data_folder(settings, command="keys")  # never a new key for a mistyped folder
    key = load_or_create_signing_key(settings.signing_key_path)
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
    from storage import Database, PersonalData, StorageError

    settings = _settings(args)

    async def run() -> str:
        # With the personal-data key an old database's ID numbers are sealed as it upgrades.
        upgrade = args.action == "upgrade"
        personal = PersonalData.load_or_create(settings.personal_key_path) if upgrade else None
        db = Database(settings.database, personal=personal)
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
    """The command line, each command carried out by its ``cmd_*`` function here."""
    commands = (
        cmd_init,
        cmd_serve,
        cmd_worker,
        cmd_demo,
        cmd_kiosk,
        cmd_flows,
        cmd_verify,
        cmd_inspect,
        cmd_verify_log,
        cmd_keys,
        cmd_db,
        cmd_credential,
    )
    return arguments.build_parser({command.__name__: command for command in commands})


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dualrec`` console script."""
    # Whatever a command writes (database, keys, recordings, exports) is its user's only.
    os.umask(0o077)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"dualrec: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
