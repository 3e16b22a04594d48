"""The pages' scripts keep no copy of the server's words: they read the rendered vocabulary.

Each page carries ``browser.page_vocabulary()`` as JSON; the test signs in as a kiosk, an
agent and a supervisor, reads that JSON from the real pages, then fetches every module
the pages load (following their imports, as the browser does) and looks in them for what
belongs to the server: evidence kinds, presence states, languages, the collectable
fields with their patterns and choices.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from urllib.parse import urljoin

import aiohttp
import pytest

from browser import page_vocabulary
from common import EvidenceKind, Language, Party, Presence
from tests.support import RunningServer
from workflow import input_specs

PASSWORD = "a long password 1"
#: The pages with scripts, by who may open them.
PAGES = {"kiosk": "/kiosk", "agent": "/console", "supervisor": "/console/supervisor"}
_VOCABULARY = re.compile(r'<script type="application/json" id="vocabulary">(.*?)</script>', re.S)
_MODULE = re.compile(r'<script type="module" src="([^"]+)"></script>')
_SCREEN = re.compile(r'<section id="screen-(\w+)"')
_IMPORT = re.compile(r'^import\s[^;]*?from\s+"([^"]+)";', re.M)


@pytest.fixture
async def pages(server: RunningServer) -> AsyncIterator[dict[str, aiohttp.ClientSession]]:
    """One signed-in HTTP client per page."""
    async with AsyncExitStack() as stack:
        clients = {}
        for role in PAGES:
            jar = aiohttp.CookieJar(unsafe=True)  # it keeps cookies of 127.0.0.1
            clients[role] = await stack.enter_async_context(aiohttp.ClientSession(cookie_jar=jar))
        token = await server.db.add_credential("kiosk", "BJ-001-K1", "BJ-001")
        async with clients["kiosk"].post(f"{server.url}/kiosk/enrol", data={"token": token}):
            pass
        for role in ("agent", "supervisor"):
            await server.db.add_credential(role, f"{role}-1")
            await server.db.set_password(role, f"{role}-1", PASSWORD)
            form = {"name": f"{role}-1", "password": PASSWORD}
            async with clients[role].post(f"{server.url}/console/login", data=form):
                pass
        yield clients


async def _page(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url, allow_redirects=False) as response:
        assert response.status == 200, url
        return await response.text()


async def _modules(http: aiohttp.ClientSession, page_url: str, html: str) -> dict[str, str]:
    """Every module the page loads, by URL: its entry modules and what they import."""
    todo = [urljoin(page_url, src) for src in _MODULE.findall(html)]
    assert todo, f"{page_url} loads no module"
    found: dict[str, str] = {}
    while todo:
        url = todo.pop()
        if url in found:
            continue
        async with http.get(url) as response:
            assert response.status == 200, url
            assert response.content_type in ("text/javascript", "application/javascript"), url
            found[url] = await response.text()
        todo.extend(urljoin(url, spec) for spec in _IMPORT.findall(found[url]))
    return found


def _server_words(page_names: set[str]) -> dict[str, re.Pattern[str]]:
    """What only the server may spell, each with how it would show in a script.

    Multi-word names are looked for anywhere (keys, ids, labels' keys); single words only
    as quoted strings, and not where they name the page's own elements (the kiosk's
    ``#screen-consent`` is shown as ``show("consent")``).
    """
    quoted = "[\"'`]{}[\"'`]"
    words: dict[str, re.Pattern[str]] = {}
    for kind in EvidenceKind:
        if kind not in page_names:
            words[kind] = re.compile(re.escape(kind) if "_" in kind else quoted.format(kind))
    for member in (*Presence, *Language, *Party):
        words[member] = re.compile(quoted.format(re.escape(member)))
    words["after_call"] = re.compile("after_call")
    for name, spec in input_specs().items():
        words[name] = re.compile(re.escape(name) if "_" in name else quoted.format(name))
        if "pattern" in spec:
            words[spec["pattern"]] = re.compile(re.escape(spec["pattern"]))
        for option in spec.get("options", []):
            words[option] = re.compile(quoted.format(re.escape(option)))
    return words


async def test_pages_render_the_vocabulary_as_data(
    server: RunningServer, pages: dict[str, aiohttp.ClientSession]
) -> None:
    for role, path in PAGES.items():
        html = await _page(pages[role], f"{server.url}{path}")
        [rendered] = _VOCABULARY.findall(html)
        assert json.loads(rendered) == page_vocabulary(), path


async def test_the_pages_scripts_hold_no_copy_of_the_vocabulary(
    server: RunningServer, pages: dict[str, aiohttp.ClientSession]
) -> None:
    scripts: dict[str, str] = {}
    page_names: set[str] = set()
    for role, path in PAGES.items():
        url = f"{server.url}{path}"
        html = await _page(pages[role], url)
        page_names.update(_SCREEN.findall(html))
        scripts.update(await _modules(pages[role], url, html))
    assert any("/static/shared/" in url for url in scripts)
    assert len(scripts) >= 15, sorted(scripts)
    words = _server_words(page_names)
    copies = {
        url.removeprefix(server.url): sorted(w for w, p in words.items() if p.search(js))
        for url, js in scripts.items()
    }
    assert {url: words for url, words in copies.items() if words} == {}
