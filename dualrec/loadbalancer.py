"""nginx in front of several nodes: the shipped configuration filled in, and a prefix to run it.

``deploy/nginx/dualrec.conf`` is the configuration the project ships for banks (its
placeholders are documented at its top). ``render_site`` fills it in; ``write_prefix``
writes it with a small main ``nginx.conf`` into a folder of its own (pid, logs and temporary
files inside it), so that the tests and ``dualrec demo --nodes N`` run an unprivileged nginx
in the foreground with ``nginx_command``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

#: The shipped configuration, in the source checkout (it is not a package file).
TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "dualrec.conf"
#: The line of the template repeated once per node.
NODE = "@@NODE@@"
#: nginx's temporary folders, each set inside the prefix (the defaults are system paths).
_TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


class LoadBalancerError(RuntimeError):
    """The configuration cannot be made: no template, no node, a placeholder left."""


def render_site(
    nodes: Sequence[str],
    listen: str | int,
    *,
    log_dir: Path | str,
    server_name: str = "_",
    template: Path = TEMPLATE,
) -> str:
    """The shipped configuration for ``nodes`` (``host:port`` each), listening on ``listen``.

    Comment lines are left as they are (they document the placeholders).
    """
    if not nodes:
        raise LoadBalancerError("nginx needs at least one dualrec node in its upstream")
    try:
        text = template.read_text("utf-8")
    except FileNotFoundError:
        raise LoadBalancerError(
            f"the nginx template {template} is missing: it ships in the source checkout"
        ) from None
    values = {
        "@@LISTEN@@": str(listen),
        "@@SERVER_NAME@@": server_name,
        "@@LOG_DIR@@": str(log_dir),
    }
    lines: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            lines.append(line)
        elif NODE in line:
            lines.extend(line.replace(NODE, node) for node in nodes)
        else:
            for placeholder, value in values.items():
                line = line.replace(placeholder, value)
            if "@@" in line:
                raise LoadBalancerError(
                    f"unknown placeholder in the nginx template: {line.strip()}"
                )
            lines.append(line)
    return "\n".join(lines) + "\n"


def write_prefix(directory: Path, nodes: Sequence[str], port: int) -> Path:
    """A prefix folder for nginx in front of ``nodes`` on 127.0.0.1:``port``; its nginx.conf.

    The main configuration keeps everything inside ``directory`` (pid, error and access
    logs, temporary files) and includes the rendered site, ``dualrec.conf``.
    """
    directory = directory.resolve()
    logs = directory / "logs"
    for folder in (logs, *(directory / "temp" / name for name in _TEMP_PATHS)):
        folder.mkdir(parents=True, exist_ok=True)
    site = directory / "dualrec.conf"
    site.write_text(render_site(nodes, f"127.0.0.1:{port}", log_dir=logs), "utf-8")
    temp = "\n".join(f"    {name}_temp_path {directory / 'temp' / name};" for name in _TEMP_PATHS)
    # Run as root (a test on CI), nginx would hand its workers to "nobody", who cannot
    # write into a private temporary folder: they stay root's there.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = directory / "nginx.conf"
    main.write_text(
        f"{user}worker_processes 1;\n"
        f"pid {directory / 'nginx.pid'};\n"
        f"error_log {logs / 'error.log'} info;\n"
        "events {\n    worker_connections 1024;\n}\n"
        "http {\n"
        f"    access_log {logs / 'access.log'};\n"
        f"{temp}\n"
        f"    include {site};\n"
        "}\n",
        "utf-8",
    )
    return main


def find_nginx() -> str | None:
    """The nginx program (Debian keeps it in /usr/sbin, not always on a user's PATH)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def nginx_command(nginx: str, config: Path, *, test: bool = False) -> list[str]:
    """nginx in the foreground on ``config``'s folder (``test``: only check the configuration)."""
    prefix = config.parent
    command = [
        nginx,
        "-p",
        f"{prefix}/",
        "-c",
        str(config),
        "-e",
        str(prefix / "logs" / "error.log"),
    ]
    return [*command, "-t"] if test else [*command, "-g", "daemon off;"]
