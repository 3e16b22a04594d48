"""Coverage-guided fuzzing of the live signalling socket with atheris (libFuzzer).

The real application (``dualrec.demo.start_server``, SQLite under a temporary folder) runs
in this process on a background event loop, its ``signaling`` package instrumented, so
libFuzzer is guided by the branches the *server* takes. Each input becomes one message
(text, or a binary frame) sent over a real aiohttp WebSocket joined as a kiosk or an
agent, or never joined; it must be answered with an ``error`` of a documented code naming
the problem or with a documented reply, and nothing may be logged at ERROR. Run by
``tests/fuzz/test_socket_fuzz.py``::

    python tests/fuzz/socket_atheris.py -runs=3000 -seed=1 CORPUS_FOLDER
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports(include=["signaling"]):
    from signaling.server import CENTRE

from dualrec.demo import start_server
from dualrec.settings import Settings
from tests.fuzz.hostile import check_answer

T = TypeVar("T")


class Failures(logging.Handler):
    """Keeps every record at ERROR or with a traceback: each one fails the input."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


class LiveServer:
    """The app on a loop of its own thread, and one socket per role to fuzz it through."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.folder = tempfile.TemporaryDirectory()
        self.sockets = self.call(self._start())

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the server's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    async def _start(self) -> dict[str, aiohttp.ClientWebSocketResponse]:
        self.runner, url = await start_server(Settings(data_dir=Path(self.folder.name)))
        self.url = url.replace("http", "ws", 1) + "/ws"
        db = self.runner.app[CENTRE].db
        self.tokens = {
            "kiosk": await db.add_credential("kiosk", "AT-K1", "SH-002"),
            "agent": await db.add_credential("agent", "atheris"),
        }
        self.http = aiohttp.ClientSession()
        return {role: await self._open(role) for role in ("none", "kiosk", "agent")}

    async def _open(self, role: str) -> aiohttp.ClientWebSocketResponse:
        ws = await self.http.ws_connect(self.url)
        if role != "none":
            await ws.send_json({"type": "join", "role": role, "token": self.tokens[role]})
            assert check_answer(await ws.receive_str(timeout=10))["type"] == "joined"
        return ws

    async def exchange(self, role: str, data: str | bytes) -> None:
        ws = self.sockets[role]
        if ws.closed:  # the unjoined socket met its join time-out
            ws = self.sockets[role] = await self._open(role)
        await (ws.send_bytes(data) if isinstance(data, bytes) else ws.send_str(data))
        frame = await ws.receive(timeout=10)
        while True:
            if frame.type == aiohttp.WSMsgType.CLOSE and role == "none":
                return
            assert frame.type == aiohttp.WSMsgType.TEXT, frame
            check_answer(frame.data)
            try:
                frame = await ws.receive(timeout=0.001)
            except TimeoutError:
                return


failures = Failures()
logging.getLogger().addHandler(failures)
logging.getLogger().setLevel(logging.INFO)
server = LiveServer()


def one_input(data: bytes) -> None:
    """libFuzzer's entry: the first byte picks the socket and the frame kind, the rest is sent."""
    if not data:
        return
    choice, body = data[0] % 6, data[1:]
    role = ("none", "kiosk", "agent")[choice % 3]
    # Text as UTF-8 (what a browser sends; escapes such as \\ud800 come from the dictionary).
    message: str | bytes = body.decode("utf-8", "replace") if choice < 5 else body
    if role == "agent" and '"available"' in str(message):
        return  # an available fuzzing agent would take customers; kept away
    server.call(server.exchange(role, message))
    if failures.records:
        raise AssertionError([r.getMessage() for r in failures.records])


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
