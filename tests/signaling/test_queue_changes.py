"""Queue changes: the server's ``changes`` applied by an agent's ``QueueView`` give the queue.

Every pair of lists is tried the way a queue moves (offers joining at the back or the
head, leaving from anywhere, taken from the head) and also with offers that change their
order, which a queue should never do but which must still come out right.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from signaling.protocol import QueueChanges, QueueState, parse_message
from signaling.queue_changes import QueueView, changes


def offer(offer_id: str) -> dict[str, Any]:
    """An offer as agents see it."""
    return {"offer_id": offer_id, "service": "card_opening", "branch": "BJ-001", "waited_s": 1.5}


def follow(before: list[str], after: list[str]) -> QueueChanges | None:
    """The changes from ``before`` to ``after``, checked by applying them to a view."""
    view = QueueView()
    view.apply(QueueState(waiting=[offer(i) for i in before]))
    message = changes(before, [offer(i) for i in after])
    if message is not None:
        # What goes on the wire comes back the same.
        assert parse_message(message.to_json()) == message
        view.apply(message)
    assert view.ids() == after
    assert view.offers == [offer(i) for i in after]
    return message


def test_the_same_queue_sends_nothing() -> None:
    assert follow(["a", "b"], ["a", "b"]) is None


def test_an_arrival_is_one_offer_with_its_place() -> None:
    message = follow(["a", "b"], ["a", "b", "c"])
    assert message is not None
    assert message.removed == [] and message.length == 3
    assert message.added == [{**offer("c"), "position": 3}]


def test_a_departure_is_its_id_only() -> None:
    message = follow(["a", "b", "c"], ["a", "c"])
    assert message == QueueChanges(added=[], removed=["b"], length=2)


def test_a_resumed_customer_goes_to_the_head() -> None:
    message = follow(["a", "b"], ["z", "a", "b"])
    assert message is not None and message.added == [{**offer("z"), "position": 1}]


def test_offers_out_of_order_are_sent_again_fewest_first() -> None:
    message = follow(["a", "b", "c", "d"], ["b", "c", "d", "a"])
    assert message is not None
    assert message.removed == ["a"] and [o["offer_id"] for o in message.added] == ["a"]


@pytest.mark.parametrize("seed", range(200))
def test_random_queues(seed: int) -> None:
    rng = random.Random(seed)
    names = [f"o{i}" for i in range(30)]
    before = rng.sample(names, rng.randrange(0, 15))
    after = [i for i in before if rng.random() > 0.3]
    for name in rng.sample([n for n in names if n not in before], rng.randrange(0, 6)):
        after.insert(rng.randrange(0, len(after) + 1), name)
    if seed % 4 == 0:
        rng.shuffle(after)  # never in a real queue; must still come out right
    follow(before, after)


def test_changes_before_the_whole_queue_are_refused() -> None:
    with pytest.raises(ValueError, match="before the whole queue"):
        QueueView().apply(QueueChanges(added=[], removed=["a"], length=0))


def test_changes_that_do_not_fit_are_refused() -> None:
    view = QueueView()
    view.apply(QueueState(waiting=[offer("a")]))
    with pytest.raises(ValueError, match="where the server has 3"):
        view.apply(QueueChanges(added=[{**offer("b"), "position": 2}], removed=[], length=3))
