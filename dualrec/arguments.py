"""The ``dualrec`` command line: its commands, their options and their help."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from common import Language, Role

from .options import BY_NAME, OPTIONS, Kind

DESCRIPTION = "dualrec: init, serve, demo, kiosk, verify, credentials and db."
#: The command functions, by name (``dualrec.cli`` has them).
Commands = Mapping[str, Callable[[argparse.Namespace], int]]
LANGUAGES = [language.value for language in Language]
STAFF_ROLES = sorted(role.value for role in Role.staff())
#: Settings a worker has no flag for (it does not listen, nor make a data folder).
NOT_WORKER = {"host", "port", "tls_cert", "tls_key", "trusted_proxies", "drain_grace_s", "init"}
_TYPES = {Kind.INT: int, Kind.NUMBER: float, Kind.PATH: Path}


def setting_flags(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """The flags of these settings (dualrec.options), and ``--config``; each defaults to
    None, "not given", so that the file and the environment may set it."""
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="settings file (DUALREC_CONFIG; default "
        "DATA_DIR/dualrec.toml if there)"
    )  # fmt: skip
    for name in names:
        option = BY_NAME[name]
        text = f"{option.meaning} ({option.env})".replace("%", "%%")
        flags = (option.flag, *option.aliases)
        if option.kind is Kind.BOOL:
            parser.add_argument(*flags, action=argparse.BooleanOptionalAction, help=text)
        elif option.kind is Kind.LIST:
            parser.add_argument(*flags, dest=name, action="append", help=text + ", repeatable")
        else:
            kind = _TYPES.get(option.kind, str)
            choices = list(option.choices) or None
            parser.add_argument(*flags, dest=name, type=kind, choices=choices, help=text)


def build_parser(commands: Commands) -> argparse.ArgumentParser:
    """The command line; ``commands`` carries each command out, by its function's name."""
    parser = argparse.ArgumentParser(prog="dualrec", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)

    def data_options(p: argparse.ArgumentParser) -> None:
        setting_flags(p, ("data_dir", "database_url"))

    init = sub.add_parser("init", help="make a data folder: keys, database, marker")
    data_options(init)
    init.set_defaults(func=commands["cmd_init"])

    serve = sub.add_parser("serve", help="run the server")
    setting_flags(serve, [option.name for option in OPTIONS])
    serve.set_defaults(func=commands["cmd_serve"])

    worker = sub.add_parser("worker", help="do post-call jobs (composites, shipping) from Redis")
    setting_flags(worker, [option.name for option in OPTIONS if option.name not in NOT_WORKER])
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

    from .backup import add_commands  # backup, restore: their module carries them out

    add_commands(sub, data_options)
    return parser
