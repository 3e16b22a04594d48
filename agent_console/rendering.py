"""The console pages' templates: one jinja2 environment, rendered with the signed-in user."""

from __future__ import annotations

from typing import Any

import jinja2
from aiohttp import web

from browser import page_vocabulary
from signaling.webauth import USER

TEMPLATES = web.AppKey("console_templates", jinja2.Environment)


def environment() -> jinja2.Environment:
    """The console templates, escaped, strict, with the vocabulary and the ``ms`` filter."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("agent_console", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    env.globals["vocabulary"] = page_vocabulary()
    env.filters["ms"] = format_ms
    return env


def render(
    request: web.Request, template_name: str, status: int = 200, **context: Any
) -> web.Response:
    """A console template as an HTML response, with the signed-in user in its context."""
    template = request.app[TEMPLATES].get_template(template_name)
    context.setdefault("user", request.get(USER))
    return web.Response(
        text=template.render(**context), status=status, content_type="text/html", charset="utf-8"
    )


def format_ms(value: int | None) -> str:
    """Milliseconds as ``m:ss.s`` for people."""
    if value is None:
        return "—"
    minutes, ms = divmod(int(value), 60000)
    return f"{minutes}:{ms / 1000:04.1f}"
