"""STUN/TURN configuration: TURN REST credentials, settings, and what each party is given.

The credentials are checked by a real coturn in tests/e2e/test_turn.py; here, their form
(coturn's ``use-auth-secret``: ``<expiry>:<user>`` and base64 HMAC-SHA1 of it), the
settings that refuse nonsense and keep the secret out of reprs, the ``joined`` message
of a real server, and that nothing configured means no ICE server at all, never aiortc's
public default STUN server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCIceTransportPolicy, RTCPeerConnection

from dualrec.demo import start_server
from dualrec.settings import Settings, SettingsError
from media import SessionRecorder, SessionRelay
from signaling import (
    Accept,
    Matched,
    ProtocolError,
    QueuePosition,
    RequestService,
    SignalingClient,
)
from signaling.ice import IceConfigError, IceServers, client_configuration, turn_credentials
from synthetic import KIOSK_LOOK, synthetic_tracks
from tests.support import RunningServer

SECRET = "a secret shared with coturn"
TURN = "turn:turn.bank.example:3478?transport=udp"


def test_turn_credentials_are_coturns_rest_api_scheme() -> None:
    username, password = turn_credentials(SECRET, "kiosk-0f3c", 3600, now=1_767_225_600.7)
    assert username == "1767229200:kiosk-0f3c"
    expected = hmac.new(SECRET.encode(), username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(password) == expected
    # Another secret, user or time gives another password.
    assert turn_credentials("other", "kiosk-0f3c", 3600, 1_767_225_600)[1] != password
    assert turn_credentials(SECRET, "kiosk-0f3d", 3600, 1_767_225_600)[1] != password


def test_each_user_gets_stun_and_turn_with_credentials_of_its_own() -> None:
    ice = IceServers(("stun:turn.bank.example:3478",), (TURN,), SECRET, ttl_s=600)
    stun, turn = ice.for_user("agent-1", now=1000.0)
    assert stun.to_json() == {"urls": ["stun:turn.bank.example:3478"]}
    assert turn.to_json()["urls"] == [TURN]
    assert turn.username == "1600:agent-1"
    assert turn.credential == turn_credentials(SECRET, "agent-1", 600, 1000.0)[1]
    assert SECRET not in repr(ice) and str(turn.credential) not in repr(turn)
    assert IceServers().for_user("kiosk-1") == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"stun_urls": ("turn.bank.example:3478",)}, "starts with stun:"),
        ({"turn_urls": ("stun:turn.bank.example",), "secret": SECRET}, "starts with turn:"),
        ({"turn_urls": (TURN,)}, "need the secret"),
        ({"turn_urls": (TURN,), "secret": SECRET, "ttl_s": 0}, "must be positive"),
        ({"transport_policy": "relay"}, "needs TURN servers"),
        ({"turn_urls": (TURN,), "secret": SECRET, "transport_policy": "nohost"}, "all or relay"),
    ],
)
def test_nonsense_is_refused(changes: dict[str, object], problem: str) -> None:
    with pytest.raises(IceConfigError, match=problem):
        IceServers(**changes)  # type: ignore[arg-type]


def test_settings_from_the_environment_keep_the_secret_hidden() -> None:
    settings = Settings.from_environment(
        {
            "DUALREC_STUN_URLS": "stun:turn.bank.example:3478",
            "DUALREC_TURN_URLS": f"{TURN}, turns:turn.bank.example:5349",
            "DUALREC_TURN_SECRET": SECRET,
            "DUALREC_TURN_TTL_S": "900",
            "DUALREC_ICE_TRANSPORT_POLICY": "relay",
        }
    )
    assert settings.stun_urls == ("stun:turn.bank.example:3478",)
    assert settings.turn_urls == (TURN, "turns:turn.bank.example:5349")
    assert (settings.turn_secret, settings.turn_ttl_s) == (SECRET, 900)
    assert settings.ice_transport_policy == "relay"
    assert SECRET not in repr(settings)
    with pytest.raises(SettingsError, match="need the secret"):
        Settings.from_environment({"DUALREC_TURN_URLS": TURN})
    with pytest.raises(SettingsError, match="whole number"):
        Settings.from_environment({"DUALREC_TURN_TTL_S": "an hour"})
    with pytest.raises(SettingsError, match="all or relay"):
        Settings(ice_transport_policy="host")


def test_the_cli_maps_the_flags_onto_the_settings() -> None:
    from dualrec.cli import _settings, build_parser

    flags = ["--stun-url", "stun:a.example", "--turn-url", TURN, "--turn-url"]
    flags += ["turns:b.example:5349", "--turn-secret", SECRET, "--turn-ttl", "60"]
    args = build_parser().parse_args(["serve", *flags, "--ice-transport-policy", "relay"])
    settings = _settings(args)
    assert settings.stun_urls == ("stun:a.example",)
    assert settings.turn_urls == (TURN, "turns:b.example:5349")
    assert (settings.turn_secret, settings.turn_ttl_s) == (SECRET, 60)
    assert settings.ice_transport_policy == "relay"


def test_a_client_refuses_bad_ice_servers_in_joined() -> None:
    config = client_configuration([{"urls": [TURN], "username": "1:k", "credential": "c"}], "relay")
    assert config.iceTransportPolicy is RTCIceTransportPolicy.RELAY
    assert config.iceServers is not None and config.iceServers[0].username == "1:k"
    for servers, policy in (
        ([{"urls": ["http://turn.example"]}], "all"),
        ([{"urls": [TURN], "credential": 5}], "all"),
        (["turn:x"], "all"),
        ([], "nohost"),
        ([{"urls": [TURN]}] * 9, "all"),
    ):
        with pytest.raises(ProtocolError):
            client_configuration(servers, policy)


async def _join(server: RunningServer, name: str) -> tuple[list[dict[str, Any]], str]:
    token = await server.db.add_credential("kiosk", name, "BJ-001")
    client = SignalingClient(server.ws_url, "kiosk", token)
    try:
        joined = await client.connect()
    finally:
        await client.close()
    return joined.ice_servers, joined.ice_transport_policy


def _turn_user(server: dict[str, Any], role: str) -> str:
    """The TURN user of a server entry, after checking its password is the secret's HMAC."""
    match = re.fullmatch(rf"(\d+):({role}-[0-9a-f]{{32}})", server["username"])
    # A role and an opaque id, not the name joined as.
    assert match is not None, server["username"]
    expected = hmac.new(SECRET.encode(), server["username"].encode(), hashlib.sha1).digest()
    assert base64.b64decode(server["credential"]) == expected
    return match[2]


async def test_joined_and_matched_give_each_party_its_own_turn_credentials(
    tmp_path: Path,
) -> None:
    settings = Settings(
        data_dir=tmp_path / "var",
        stun_urls=("stun:turn.bank.example:3478",),
        turn_urls=(TURN,),
        turn_secret=SECRET,
        turn_ttl_s=900,
        ice_transport_policy="relay",
    )
    runner, url = await start_server(settings)
    server = RunningServer(runner, url, settings)
    kiosk = SignalingClient(server.ws_url, "kiosk", await server.db.add_credential("kiosk", "K1"))
    agent = SignalingClient(server.ws_url, "agent", await server.db.add_credential("agent", "A1"))
    try:
        joined = {"kiosk": await kiosk.connect(), "agent": await agent.connect()}
        (_, other), _ = await _join(server, "BJ-001-K2")
        await kiosk.send(RequestService(service="card_opening"))
        await kiosk.expect(QueuePosition)
        await agent.send(Accept())
        matched = {"kiosk": await kiosk.expect(Matched), "agent": await agent.expect(Matched)}
        relay_policy = kiosk.ice.iceTransportPolicy
    finally:
        await kiosk.close()
        await agent.close()
        await runner.cleanup()
    assert relay_policy is RTCIceTransportPolicy.RELAY
    for role in ("kiosk", "agent"):
        assert joined[role].ice_transport_policy == "relay"
        stun, turn = joined[role].ice_servers
        assert stun == {"urls": ["stun:turn.bank.example:3478"]}
        # The call's matched brings the same user fresh credentials.
        [fresh] = [s for s in matched[role].ice_servers if "username" in s]
        assert _turn_user(fresh, role) == _turn_user(turn, role)
        assert int(fresh["username"].split(":")[0]) >= int(turn["username"].split(":")[0])
    assert _turn_user(other, "kiosk") != _turn_user(joined["kiosk"].ice_servers[1], "kiosk")


async def test_nothing_configured_means_no_ice_server(server: RunningServer) -> None:
    servers, policy = await _join(server, "BJ-001-K1")
    assert (servers, policy) == ([], "all")


async def test_the_relay_never_asks_a_public_stun_server(tmp_path: Path) -> None:
    # aiortc, given no configuration, gathers with stun.l.google.com:19302.
    default = RTCPeerConnection()
    assert _stun_server(default) == ("stun.l.google.com", 19302)
    await default.close()

    recorder = SessionRecorder(
        tmp_path / "part-1", request_keyframe=lambda party: None, on_segment=lambda info: None
    )
    relay = SessionRelay("s1", recorder, on_connected=lambda: None, on_failed=lambda p, s: None)
    offerer = RTCPeerConnection(client_configuration([], "all"))
    try:
        for track in synthetic_tracks(
            KIOSK_LOOK.label, KIOSK_LOOK.colour, KIOSK_LOOK.tone_hz, pulse=False
        ):
            offerer.addTrack(track)
        await offerer.setLocalDescription(await offerer.createOffer())
        answer = await relay.answer("kiosk", offerer.localDescription.sdp)
        for link in relay.links.values():
            assert _stun_server(link.pc) is None
        assert "typ srflx" not in answer and "typ host" in answer
    finally:
        await offerer.close()
        await relay.close()


def _stun_server(pc: RTCPeerConnection) -> tuple[str, int] | None:
    """The STUN server a peer connection's ICE agent gathers with (aioice's Connection)."""
    if not pc.getTransceivers():
        pc.addTransceiver("audio")
    [first, *_] = pc.getTransceivers()
    gatherer = first.sender.transport.transport.iceGatherer
    server: tuple[str, int] | None = gatherer._connection.stun_server
    return server
