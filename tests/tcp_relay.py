"""A TCP relay that can be cut: the network between the server and PostgreSQL, in a test.

While cut, the relay's connections are aborted and its port refuses new ones, as when the
database host is unreachable or restarting; restored, it accepts and relays again. It can
also lose the reply to one message (``lose_reply_to``): the database did the work, the
client never hears so, as when the network fails between a COMMIT and its answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tests.support import free_port


class TcpRelay:
    """Relays 127.0.0.1:``port`` to ``target_host``:``target_port`` until cut."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.WriteTransport] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._lose: bytes | None = None
        #: Connections accepted so far (to see that the server reconnected).
        self.accepted = 0
        #: Replies lost so far (see lose_reply_to).
        self.lost = 0

    async def start(self) -> None:
        """Listen (again): new connections are relayed."""
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )

    async def cut(self) -> None:
        """Abort every relayed connection and refuse new ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for transport in list(self._transports):
            transport.abort()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def lose_reply_to(self, marker: bytes) -> None:
        """The next message sent holding ``marker`` reaches the server; its reply is lost
        and that connection aborted."""
        self._lose = marker

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.accepted += 1
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError:
                writer.transport.abort()
                return
            pair = (writer.transport, up_writer.transport)
            self._transports.update(pair)
            awaiting: list[bool] = []

            def sent(data: bytes) -> bool:
                if self._lose is not None and self._lose in data:
                    self._lose = None
                    awaiting.append(True)
                return True

            def replied(data: bytes) -> bool:
                if awaiting:
                    self.lost += 1
                    return False
                return True

            try:
                await asyncio.gather(
                    _pipe(reader, up_writer, sent), _pipe(up_reader, writer, replied)
                )
            finally:
                for transport in pair:
                    transport.abort()
                    self._transports.discard(transport)
        finally:
            self._tasks.discard(task)


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, passes: Callable[[bytes], bool]
) -> None:
    """Copy ``reader`` to ``writer`` while ``passes`` lets the data through; then close."""
    try:
        while (data := await reader.read(65536)) and passes(data):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.transport.abort()
