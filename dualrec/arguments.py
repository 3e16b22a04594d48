"""The ``dualrec`` command line: its commands, their options and their help."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path

from common import Language, Role

DESCRIPTION = "dualrec: serve, demo, kiosk, verify, credentials and db."
#: The command functions, by name (``dualrec.cli`` has them).
Commands = Mapping[str, Callable[[argparse.Namespace], int]]
LANGUAGES = [language.value for language in Language]
STAFF_ROLES = sorted(role.value for role in Role.staff())


def build_parser(commands: Commands) -> argparse.ArgumentParser:
    """The command line; ``commands`` carries each command out, by its function's name."""
    parser = argparse.ArgumentParser(prog="dualrec", description=DESCRIPTION)
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
    serve.add_argument(
        "--redis-url", help="run as one of several nodes sharing this Redis (needs PostgreSQL)"
    )
    serve.add_argument("--node-id", help="this node's name among several (default host:port)")
    serve.add_argument(
        "--stun-url", action="append", dest="stun_urls", help="a STUN server (repeatable)"
    )
    serve.add_argument(
        "--turn-url", action="append", dest="turn_urls", help="a TURN server (repeatable)"
    )
    serve.add_argument(
        "--turn-secret", help="the TURN servers' shared secret (better: DUALREC_TURN_SECRET)"
    )
    serve.add_argument("--turn-ttl", type=int, dest="turn_ttl_s", help="TURN credentials' life (s)")
    serve.add_argument(
        "--ice-transport-policy", choices=["all", "relay"], help="relay: media only via TURN"
    )
    serve.add_argument(
        "--drain-seconds",
        type=float,
        dest="drain_grace_s",
        help="on SIGTERM, how long live calls may go on before they move to another node (30)",
    )
    serve.add_argument(
        "--log-format", choices=["text", "json"], help="log lines as text or JSON (text)"
    )
    serve.add_argument(
        "--metrics-token",
        help="bearer token for scraping /metrics (better: DUALREC_METRICS_TOKEN, unseen by ps)",
    )
    serve.add_argument("--tls-cert", type=Path, help="serve HTTPS: certificate chain (PEM)")
    serve.add_argument("--tls-key", type=Path, help="serve HTTPS: its private key (PEM)")
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        dest="trusted_proxies",
        metavar="ADDR",
        help="believe X-Forwarded-* from this proxy address or network (repeatable)",
    )
    serve.set_defaults(func=commands["cmd_serve"])

    worker = sub.add_parser("worker", help="do post-call jobs (composites, shipping) from Redis")
    data_options(worker)
    worker.add_argument("--redis-url", required=True, help="the Redis the nodes queue jobs on")
    worker.add_argument("--queue", help="the job queue's name (default dualrec-jobs)")
    worker.add_argument(
        "--metrics-port",
        type=int,
        help="serve /metrics on this port (to DUALREC_METRICS_TOKEN only)",
    )
    worker.set_defaults(func=commands["cmd_worker"])

    demo = sub.add_parser("demo", help="run one complete double-recorded session")
    data_options(demo)
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.add_argument("--step-seconds", type=float, default=1.5, help="pause between steps")
    demo.add_argument("--service", default="card_opening", help="the flow (dualrec flows)")
    demo.add_argument(
        "--nodes",
        type=int,
        choices=[1, 2],
        default=1,
        help="2: two nodes and a worker as processes, on Redis and PostgreSQL (default 1)",
    )
    demo.add_argument(
        "--redis-url", help="with --nodes 2: the nodes' Redis (default redis://127.0.0.1:6379/0)"
    )
    demo.set_defaults(func=commands["cmd_demo"])

    kiosk = sub.add_parser("kiosk", help="run a kiosk against a server")
    kiosk.add_argument("--server", default="http://127.0.0.1:8080")
    kiosk.add_argument("--service", default="card_opening")
    kiosk.add_argument("--source", default="synthetic", help="synthetic, camera or a file")
    kiosk.add_argument("--pulse", action="store_true", help="flash and beep every 2 s")
    kiosk.add_argument("--language", default="zh-CN", choices=LANGUAGES)
    kiosk.add_argument("--token", help="device token (or DUALREC_KIOSK_TOKEN)")
    kiosk.add_argument("--resume", metavar="SESSION_ID", help="resume a session cut by a restart")
    kiosk.set_defaults(func=commands["cmd_kiosk"])

    flows = sub.add_parser("flows", help="the business flows: list, show, docs")
    flows.add_argument("--language", default="en", choices=LANGUAGES)
    flows.set_defaults(func=commands["cmd_flows"], action="list")
    flow_actions = flows.add_subparsers(dest="action")
    flow_actions.add_parser("list", help="list the flows with their titles")
    show = flow_actions.add_parser("show", help="one flow as a Mermaid state diagram or text")
    show.add_argument("name")
    show.add_argument("--format", choices=["mermaid", "text"], default="text")
    show.add_argument("--language", default="en", choices=LANGUAGES)
    docs = flow_actions.add_parser("docs", help="write docs/flows/<name>.md for every flow")
    docs.add_argument("--out", type=Path, help="the folder (default docs/flows)")

    verify = sub.add_parser("verify", help="check a recording")
    verify.add_argument("target", help="a session id, a recording folder or a segment file")
    data_options(verify)
    verify.add_argument("--json", action="store_true")
    verify.add_argument(
        "--public-key", type=Path, help="trusted public key PEM (default: this server's key)"
    )
    verify.set_defaults(func=commands["cmd_verify"])

    inspect = sub.add_parser("inspect", help="inspect a closed recording, or show its report")
    inspect.add_argument("target", help="a session id or a recording folder")
    data_options(inspect)
    inspect.add_argument("--json", action="store_true")
    inspect.set_defaults(func=commands["cmd_inspect"])

    verify_log = sub.add_parser("verify-log", help="check the hash-chained access log")
    data_options(verify_log)
    verify_log.set_defaults(func=commands["cmd_verify_log"])

    keys = sub.add_parser("keys", help="the recording-signing key")
    export = keys.add_subparsers(dest="action", required=True).add_parser(
        "export", help="print the public key (PEM) for auditors"
    )
    data_options(export)
    export.set_defaults(func=commands["cmd_keys"])

    db = sub.add_parser("db", help="the database schema: upgrade, current")
    db_actions = db.add_subparsers(dest="action", required=True)
    for name, text in (
        ("upgrade", "migrate the schema to the newest revision (the server does it on start)"),
        ("current", "show the schema revision"),
    ):
        action = db_actions.add_parser(name, help=text)
        data_options(action)
        action.set_defaults(func=commands["cmd_db"])

    for group, role, what in (("kiosks", "kiosk", "enroll"), ("users", None, "add")):
        p = sub.add_parser(group, help=f"{what} {group}")
        action = p.add_subparsers(dest="action", required=True).add_parser(what)
        action.add_argument("name")
        if role is None:
            action.add_argument("--role", required=True, choices=STAFF_ROLES)
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
        action.set_defaults(func=commands["cmd_credential"])
    return parser
