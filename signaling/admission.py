"""Admission: who a joining socket is, and what each joined role may send."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from common import Role
from storage import Database

from .errors import OutOfOrder, Unauthorised
from .ice import IceServers
from .protocol import (
    Accept,
    EvidenceMessage,
    Hangup,
    IceCandidate,
    Join,
    Joined,
    Message,
    Offer,
    PushDocument,
    RequestService,
    Resume,
    WorkflowEventMessage,
)
from .protocol import Presence as PresenceMessage
from .session import Client

#: What a joined kiosk or agent may send.
CallerMessage = (
    RequestService
    | Resume
    | Accept
    | PresenceMessage
    | Offer
    | IceCandidate
    | WorkflowEventMessage
    | EvidenceMessage
    | PushDocument
    | Hangup
)
#: Which messages each role may send once joined.
PERMISSIONS: Final[Mapping[Role, frozenset[type[Message]]]] = {
    Role.KIOSK: frozenset({RequestService, Resume, Offer, IceCandidate, EvidenceMessage, Hangup}),
    Role.AGENT: frozenset(
        {
            Accept,
            PresenceMessage,
            Offer,
            IceCandidate,
            WorkflowEventMessage,
            PushDocument,
            Hangup,
        }
    ),
}


def permitted(role: Role | None, message: Message) -> CallerMessage:
    """``message`` as one a caller may send, or Unauthorised naming who may not send it."""
    if role is None:
        raise Unauthorised(f'join first: "{message.type}" needs a joined kiosk or agent')
    if not isinstance(message, CallerMessage) or type(message) not in PERMISSIONS.get(
        role, frozenset()
    ):
        raise Unauthorised(f'{role.article} may not send "{message.type}"')
    return message


async def identify(client: Client, message: Join, db: Database) -> Role:
    """Who joins: the signed-in page's user, or the holder of the token (Unauthorised if not)."""
    if client.role is not None:
        raise OutOfOrder("join", f"joined as {client.role}")
    wanted = Role(message.role)
    if message.token is None:
        user = client.web_user
        if user is None:
            raise Unauthorised("join needs a token, or a signed-in page of this server")
        if user.role != wanted:
            raise Unauthorised(f"a signed-in {user.role} may not join as {wanted.article}")
        client.role, client.name, client.branch = wanted, user.name, user.branch
    else:
        credential = await db.authenticate(message.token)
        if credential is None or credential.role != wanted:
            raise Unauthorised(f"the token is not valid for a {wanted}")
        client.role, client.name, client.branch = wanted, credential.name, credential.branch
    return wanted


def welcome(client: Client, ice: IceServers) -> Joined:
    """The ``joined`` answer: who joined, and the ICE servers with TURN credentials its own."""
    if client.role is None:
        raise OutOfOrder("joined", "not joined")
    return Joined(
        role=client.role,
        name=client.name,
        branch=client.branch,
        ice_servers=ice.for_party(client.role, client.id),
        ice_transport_policy=ice.transport_policy,
    )
