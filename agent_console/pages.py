"""Mounting the console pages (workspace, supervision, sessions, admin, audit) on an app."""

from __future__ import annotations

from aiohttp import web

from . import admin
from . import web as console
from .audit import action_routes, queue_routes, replay_routes, search_routes
from .media_views import MEDIA_VIEWS, RecentViews
from .rendering import TEMPLATES, environment


def setup_console(app: web.Application) -> None:
    """Add the console routes, templates and static files to ``app``.

    The application fills the keys of ``agent_console.keys`` when the server starts.
    """
    app[TEMPLATES] = environment()
    app[MEDIA_VIEWS] = RecentViews()
    for routes in (
        console.routes,
        admin.routes,
        search_routes,
        replay_routes,
        action_routes,
        queue_routes,
    ):
        app.add_routes(routes)
    app.router.add_static("/console/static", console.STATIC)
