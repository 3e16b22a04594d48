"""The agent's side: the browser console pages and the scripted agent of the demo."""

from .scripted import ScriptedAgent
from .web import CONSOLE_ROLES, setup_console

__all__ = ["CONSOLE_ROLES", "ScriptedAgent", "setup_console"]
