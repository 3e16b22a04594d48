"""The plain aiortc build the benchmark compares dualrec with, run as its own process.

As in aiortc's examples/server: one ``MediaRelay``, one ``MediaRecorder(path.mp4)`` per
received track (via ``relay.subscribe``), and each party's tracks forwarded to the other
party with ``relay.subscribe`` (so aiortc decodes and re-encodes them). Signalling is a
minimal HTTP API: ``POST /offer {session, party, sdp}`` holds the first party's answer
until the second party's offer arrives; ``POST /hangup {session}`` stops the recorders;
``GET /healthz?since=T`` reports event-loop lag as dualrec does.

    python -m bench.plain_server --port P --data-dir DIR
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRecorder, MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from signaling.lag import LagMonitor

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

PAIRING_TIMEOUT_S = 60.0


@dataclass
class Party:
    """One party's peer connection and the tracks it sends."""

    pc: RTCPeerConnection
    tracks: dict[str, MediaStreamTrack] = field(default_factory=dict)


@dataclass
class PlainSession:
    """Two parties, their recorders and files."""

    id: str
    parties: dict[str, Party] = field(default_factory=dict)
    paired: asyncio.Event = field(default_factory=asyncio.Event)
    recorders: list[MediaRecorder] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    error: str | None = None


class PlainServer:
    """State of the plain server: relay, sessions and the lag probe."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.relay = MediaRelay()
        self.sessions: dict[str, PlainSession] = {}
        self.lag = LagMonitor()

    async def offer(self, request: web.Request) -> web.Response:
        """Take a party's offer; answer both parties once the second one has offered."""
        params = await request.json()
        session_id, party, sdp = str(params["session"]), str(params["party"]), params["sdp"]
        if party not in ("kiosk", "agent"):
            raise web.HTTPBadRequest(text="party must be kiosk or agent")
        session = self.sessions.setdefault(session_id, PlainSession(session_id))
        pc = RTCPeerConnection()
        entry = Party(pc)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            """Keep the track the party sends."""
            entry.tracks[track.kind] = track

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        # Registered only now: the pairing needs both parties' tracks.
        session.parties[party] = entry
        if len(session.parties) == 2:
            try:
                await self._pair(session)
            except Exception as exc:
                session.error = f"{type(exc).__name__}: {exc}"
                logger.exception("session %s: pairing failed", session_id)
            session.paired.set()
        else:
            try:
                await asyncio.wait_for(session.paired.wait(), PAIRING_TIMEOUT_S)
            except TimeoutError:
                raise web.HTTPGatewayTimeout(text="the other party did not offer") from None
        if session.error is not None:
            raise web.HTTPInternalServerError(text=session.error)
        return web.json_response({"sdp": pc.localDescription.sdp})

    async def _pair(self, session: PlainSession) -> None:
        folder = self.data_dir / "recordings" / session.id
        folder.mkdir(parents=True, exist_ok=True)
        kiosk, agent = session.parties["kiosk"], session.parties["agent"]
        for party, me, other in (("kiosk", kiosk, agent), ("agent", agent, kiosk)):
            for kind, track in sorted(me.tracks.items()):
                path = folder / f"{party}-{kind}.mp4"
                recorder = MediaRecorder(str(path))
                recorder.addTrack(self.relay.subscribe(track))
                session.recorders.append(recorder)
                session.files.append(str(path))
                other.pc.addTrack(self.relay.subscribe(track))
        for entry in (kiosk, agent):
            await entry.pc.setLocalDescription(await entry.pc.createAnswer())
        for recorder in session.recorders:
            await recorder.start()
        logger.info("session %s: paired, recording %d tracks", session.id, len(session.files))

    async def hangup(self, request: web.Request) -> web.Response:
        """Stop the session's recorders (files closed) and its peer connections."""
        params = await request.json()
        session = self.sessions.pop(str(params["session"]), None)
        if session is None:
            raise web.HTTPNotFound(text="no such session")
        errors = []
        for recorder, path in zip(session.recorders, session.files, strict=True):
            try:
                await recorder.stop()
            except Exception as exc:  # the plain build's failure is part of the result
                errors.append(f"{Path(path).name}: {type(exc).__name__}: {exc}")
                logger.error("session %s: recorder of %s failed: %s", session.id, path, exc)
        await asyncio.gather(*(p.pc.close() for p in session.parties.values()))
        return web.json_response({"files": session.files, "errors": errors})

    async def healthz(self, request: web.Request) -> web.Response:
        """Liveness and event-loop lag, as dualrec's /healthz reports it."""
        since = float(request.query.get("since", "0"))
        return web.json_response(
            {"status": "ok", "sessions": len(self.sessions), "loop_lag": self.lag.summary(since)}
        )


def create_app(data_dir: Path) -> web.Application:
    """The plain server's aiohttp application."""
    server = PlainServer(data_dir)
    app = web.Application()

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        """Probe the loop while serving; close what is left at shutdown."""
        server.lag.start()
        yield
        await server.lag.stop()
        for session in list(server.sessions.values()):
            await asyncio.gather(*(p.pc.close() for p in session.parties.values()))

    app.cleanup_ctx.append(lifetime)
    app.router.add_post("/offer", server.offer)
    app.router.add_post("/hangup", server.hangup)
    app.router.add_get("/healthz", server.healthz)
    return app


def main() -> None:
    """Run the plain server until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("aioice", "aiortc", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    web.run_app(create_app(args.data_dir), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
