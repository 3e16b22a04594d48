"""Queue updates to agents are incremental (issue 11, point 2): the whole queue once, then changes.

Twenty kiosks queue one after another while an agent is available: the agent is sent one
``queue`` and then ``queue_changes`` carrying each new offer once, a small part of the
bytes twenty whole queues would have taken. What it holds after applying them is what the
server holds: a second agent joining then is sent the same list whole, and both follow
kiosks leaving from the middle. The console page in Chromium shows the queue it is told
the same way.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from playwright.async_api import expect

from signaling import QueueChanges, QueueState, QueueView, parse_message
from tests.browser import chromium
from tests.e2e.test_agent_browser import PASSWORD, sign_in
from tests.support import RunningServer

KIOSKS = 20


def staff_http() -> aiohttp.ClientSession:
    """A client from another loopback address: one address may hold 20 sockets (the kiosks')."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0)))


class QueueWatch:
    """An agent's raw socket: every queue message applied to a ``QueueView``, and counted."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.view = QueueView()
        #: Every ``queue`` and ``queue_changes`` received, with its size in bytes.
        self.received: list[tuple[QueueState | QueueChanges, int]] = []

    async def until(self, length: int, timeout_s: float = 30.0) -> list[str]:
        """Read until the view holds ``length`` offers; their ids."""
        while not (self.view.known and len(self.view) == length):
            frame = await self.ws.receive(timeout=timeout_s)
            assert frame.type == aiohttp.WSMsgType.TEXT, frame
            message = parse_message(frame.data)
            if isinstance(message, QueueState | QueueChanges):
                self.received.append((message, len(frame.data.encode())))
                self.view.apply(message)
        return self.view.ids()

    def of(self, kind: type[QueueState] | type[QueueChanges]) -> list[Any]:
        """The messages of ``kind`` received."""
        return [message for message, _ in self.received if isinstance(message, kind)]


async def joined(http: aiohttp.ClientSession, url: str, role: str, token: str) -> Any:
    """A raw socket, joined as ``role``."""
    ws = await http.ws_connect(url)
    await ws.send_json({"type": "join", "role": role, "token": token})
    while (message := await ws.receive_json(timeout=10))["type"] != "joined":
        assert message["type"] != "error", message
    return ws


async def queued(ws: Any) -> None:
    """Ask for a service and wait for the place in the queue."""
    await ws.send_json({"type": "request_service", "service": "card_opening", "language": "en"})
    while (message := await ws.receive_json(timeout=10))["type"] != "queue_position":
        assert message["type"] != "error", message


async def test_an_agent_is_sent_the_queue_once_then_only_its_changes(
    server: RunningServer,
) -> None:
    db = server.db
    tokens = [await db.add_credential("kiosk", f"BJ-001-K{i}", "BJ-001") for i in range(KIOSKS)]
    async with aiohttp.ClientSession() as http, staff_http() as staff:
        first = QueueWatch(
            await joined(staff, server.ws_url, "agent", await db.add_credential("agent", "ann"))
        )
        assert await first.until(0) == []
        kiosks = []
        for token in tokens:
            kiosks.append(ws := await joined(http, server.ws_url, "kiosk", token))
            await queued(ws)
        order = await first.until(KIOSKS)
        [whole] = first.of(QueueState)
        assert whole.waiting == []
        changes = first.of(QueueChanges)
        # Each kiosk's offer was sent once, none taken back.
        assert sum(len(c.added) for c in changes) == KIOSKS
        assert all(c.removed == [] for c in changes)
        sent = sum(size for message, size in first.received if isinstance(message, QueueChanges))
        # What twenty whole queues (one per arrival) would have taken.
        offers = first.view.offers
        wholes = sum(len(QueueState(waiting=offers[:n]).to_json().encode()) for n in range(1, 21))
        assert sent * 5 < wholes, (sent, wholes)

        # A second agent gets the same queue whole; then five kiosks leave from the middle.
        second = QueueWatch(
            await joined(staff, server.ws_url, "agent", await db.add_credential("agent", "bob"))
        )
        assert await second.until(KIOSKS) == order
        leaving = range(3, KIOSKS, 4)
        for n in leaving:
            await kiosks[n].send_json({"type": "hangup", "reason": "changed my mind"})
        left = [offer for n, offer in enumerate(order) if n not in leaving]
        assert await first.until(len(left)) == left
        assert await second.until(len(left)) == left
        assert [len(second.of(QueueState)), len(second.of(QueueChanges)) > 0] == [1, True]
        removed = [offer_id for c in first.of(QueueChanges) for offer_id in c.removed]
        assert sorted(removed) == sorted(order[n] for n in leaving)
        for ws in [first.ws, second.ws, *kiosks]:
            await ws.close()


async def test_the_console_page_shows_the_queue_it_is_told_in_changes(
    server: RunningServer,
) -> None:
    db = server.db
    await db.add_credential("agent", "ann")
    await db.set_password("agent", "ann", PASSWORD)
    tokens = [await db.add_credential("kiosk", f"BJ-001-K{i}", "BJ-001") for i in range(4)]
    async with chromium() as browser, aiohttp.ClientSession() as http:
        context = await browser.new_context(bypass_csp=True)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        received: list[str] = []
        page.on(
            "websocket",
            lambda ws: ws.on("framereceived", lambda data: received.append(str(data))),
        )
        await sign_in(page, server.url, "ann", PASSWORD)
        await page.wait_for_url(f"{server.url}/console")
        await page.wait_for_function("() => window.dualrecConsole?.state.presence === 'available'")
        watch = QueueWatch(
            await joined(http, server.ws_url, "agent", await db.add_credential("agent", "bob"))
        )
        await watch.until(0)
        kiosks = []
        for token in tokens:
            kiosks.append(ws := await joined(http, server.ws_url, "kiosk", token))
            await queued(ws)
        order = await watch.until(len(tokens))
        rows = page.locator("#queue-rows tr")
        await expect(rows).to_have_count(len(tokens))
        assert [await row.get_attribute("data-offer") for row in await rows.all()] == order
        await expect(page.locator("#queue-count")).to_have_text(str(len(tokens)))
        await expect(rows.first).to_contain_text("Debit card opening")

        await kiosks[1].send_json({"type": "hangup", "reason": "changed my mind"})
        left = await watch.until(len(tokens) - 1)
        await expect(rows).to_have_count(len(tokens) - 1)
        assert [await row.get_attribute("data-offer") for row in await rows.all()] == left
        # The page was told the queue whole once, then in changes.
        kinds = [json.loads(text)["type"] for text in received if text.startswith("{")]
        assert kinds.count("queue") == 1 and kinds.count("queue_changes") >= 2, kinds
        assert errors == []
        for ws in [watch.ws, *kiosks]:
            await ws.close()
