"""The queue as an agent sees it: the whole list once, then only what changed.

``changes`` works out the ``queue_changes`` message that turns one list of offers into the
next (the server's side); ``QueueView`` applies ``queue`` and ``queue_changes`` to the list
an agent holds (the scripted agent's and the tests' side; the console page does the same
in ``agent_console/static/console.js``). Both are pure: no sockets, no clocks.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from typing import Any

from .protocol import QueueChanges, QueueState


def changes(before: Sequence[str], after: Sequence[Mapping[str, Any]]) -> QueueChanges | None:
    """The message that turns the offers ``before`` (their ids) into ``after``; None if equal.

    Offers that stay keep their relative order in a queue, but should one ever move (a
    session put back at its old place), the fewest are sent again: those outside the
    longest run that kept its order are removed and added at their new place.
    """
    ids = [offer["offer_id"] for offer in after]
    if list(before) == ids:
        return None
    was = {offer_id: n for n, offer_id in enumerate(before)}
    kept = _kept_in_order([offer_id for offer_id in ids if offer_id in was], was)
    removed = [offer_id for offer_id in before if offer_id not in kept]
    added = [
        {**offer, "position": n}
        for n, offer in enumerate(after, start=1)
        if offer["offer_id"] not in kept
    ]
    return QueueChanges(added=added, removed=removed, length=len(ids))


def _kept_in_order(ids: list[str], was: Mapping[str, int]) -> set[str]:
    """The longest run of ``ids`` whose old places (``was``) still ascend (patience sort)."""
    tails: list[int] = []  # the old place ending the best run of each length
    tail_ids: list[int] = []  # index into ids of that run's last offer
    previous: list[int] = [-1] * len(ids)
    for n, offer_id in enumerate(ids):
        place = was[offer_id]
        length = bisect_left(tails, place)
        if length == len(tails):
            tails.append(place)
            tail_ids.append(n)
        else:
            tails[length], tail_ids[length] = place, n
        previous[n] = tail_ids[length - 1] if length else -1
    kept: set[str] = set()
    n = tail_ids[-1] if tail_ids else -1
    while n >= 0:
        kept.add(ids[n])
        n = previous[n]
    return kept


class QueueView:
    """The queue as one agent was told it: ``queue`` sets it, ``queue_changes`` edits it."""

    def __init__(self) -> None:
        #: The offers, head first (each ``{offer_id, service, branch, waited_s}``).
        self.offers: list[dict[str, Any]] = []
        #: Whether a ``queue`` has been received (changes before it cannot be applied).
        self.known = False

    def __len__(self) -> int:
        return len(self.offers)

    def apply(self, message: QueueState | QueueChanges) -> None:
        """Bring the list up to date with ``message``; raise ValueError if it does not fit."""
        if isinstance(message, QueueState):
            self.offers, self.known = [dict(offer) for offer in message.waiting], True
            return
        if not self.known:
            raise ValueError("queue_changes before the whole queue was received")
        gone = set(message.removed)
        offers = [offer for offer in self.offers if offer["offer_id"] not in gone]
        for added in message.added:
            offer = dict(added)
            offers.insert(offer.pop("position") - 1, offer)
        if len(offers) != message.length:
            raise ValueError(f"{len(offers)} offers, where the server has {message.length}")
        self.offers = offers

    def ids(self) -> list[str]:
        """The offer ids, head first."""
        return [offer["offer_id"] for offer in self.offers]
