"""The review queue: what an inspection's save queues, each flag's decision, search filters."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage import Conflict, Database, NotFound, StorageError
from storage.audit import SearchFilters, add_review, search
from storage.review_queue import DEFAULT_SAMPLE_SHARE, QueueReason, sampled
from tests.storage.conftest import Target
from tests.storage.test_audit_records import T0, ids, recorded


def _ids_where(picked: bool, count: int) -> list[str]:
    """Session ids the 10 % sample does (``picked``) or does not pick, found by trying."""
    found = [f"{n:032x}" for n in range(1, 400) if sampled(f"{n:032x}", DEFAULT_SAMPLE_SHARE)]
    if not picked:
        found = [f"{n:032x}" for n in range(1, 400) if f"{n:032x}" not in found]
    return found[:count]


async def _session(db: Database, session_id: str | None = None) -> str:
    if session_id is None:
        return await recorded(db)
    # recorded() makes its own id: the sample needs a chosen one.
    await db.create_session(
        id=session_id,
        service="wealth_purchase",
        branch="BJ-001",
        kiosk_name="K1",
        flow="wealth_purchase",
        workflow_state="identity_check",
        created_at=T0,
    )
    return session_id


async def _inspected(
    db: Database,
    session_id: str,
    verdict: str,
    *,
    failed: list[str] | None = None,
    needs_review: list[str] | None = None,
    minutes: int = 0,
    part: int = 1,
) -> None:
    await db.save_inspection(
        session_id,
        part,
        verdict=verdict,
        score=40.0 if verdict == "fail" else 90.0,
        file=f"{session_id}/inspection.json",
        sha256="0" * 64,
        inspected_at=T0 + timedelta(minutes=minutes),
        failed=failed or [],
        needs_review=needs_review or [],
    )


def test_the_sample_is_decided_by_the_session_id_alone() -> None:
    picked = [f"{n:032x}" for n in range(2000) if sampled(f"{n:032x}", 0.1)]
    assert 150 <= len(picked) <= 250  # about a tenth
    assert picked == [f"{n:032x}" for n in range(2000) if sampled(f"{n:032x}", 0.1)]
    assert all(sampled(p, 0.5) for p in picked)  # a larger share keeps the smaller's picks
    assert not any(sampled(f"{n:032x}", 0.0) for n in range(200))
    assert all(sampled(f"{n:032x}", 1.0) for n in range(200))


async def test_failed_doubtful_and_sampled_parts_are_queued_oldest_first(db: Database) -> None:
    failing, doubtful = await _session(db), await _session(db)
    picked = await _session(db, _ids_where(True, 1)[0])
    passed = await _session(db, _ids_where(False, 1)[0])
    await _inspected(db, doubtful, "needs_review", needs_review=["second_face"], minutes=2)
    await _inspected(
        db, failing, "fail", failed=["customer_face", "evidence"], needs_review=["silence"]
    )
    await _inspected(db, picked, "pass", minutes=3)
    await _inspected(db, passed, "pass", minutes=4)
    # Saved again (a re-run of the job): still queued once, in its first place.
    await _inspected(db, failing, "fail", failed=["customer_face", "evidence"], minutes=9)

    queue = await db.review_queue()
    assert [(q.session_id, q.reason) for q in queue] == [
        (failing, QueueReason.FLAGGED),
        (doubtful, QueueReason.FLAGGED),
        (picked, QueueReason.SAMPLED),
    ]
    assert [(f.check, f.verdict, f.decided) for f in queue[0].flags] == [
        ("customer_face", "fail", False),
        ("evidence", "fail", False),
    ]
    assert queue[0].verdict == "fail" and queue[2].flags == () and queue[2].verdict == "pass"
    assert (await db.part_flags(passed, 1)) == ([], None)


async def test_a_part_leaves_the_queue_once_every_flag_is_decided(db: Database) -> None:
    sid = await _session(db)
    await _inspected(db, sid, "fail", failed=["customer_face"], needs_review=["second_face"])
    overruled = await db.decide_flag(
        sid,
        1,
        "customer_face",
        decision="overrule",
        reason="the customer is in the picture: lighting 11010519850615123X",
        reviewer="audrey",
    )
    assert overruled.decision == "overruled" and overruled.verdict == "pass"
    assert overruled.part == 1 and overruled.reviewer == "audrey"
    assert "11010519850615123X" not in overruled.reasons  # ID numbers masked
    flags, waiting = await db.part_flags(sid, 1)
    assert waiting is True and [f.decided for f in flags] == [True, False]
    assert [q.session_id for q in await db.review_queue()] == [sid]

    with pytest.raises(Conflict, match="already overruled by audrey"):
        await db.decide_flag(sid, 1, "customer_face", decision="confirm", reason="", reviewer="b")
    confirmed = await db.decide_flag(
        sid, 1, "second_face", decision="confirm", reason="", reviewer="bob"
    )
    assert confirmed.decision == "confirmed" and confirmed.verdict == "fail"
    assert await db.review_queue() == []
    flags, waiting = await db.part_flags(sid, 1)
    assert waiting is False and all(f.decided for f in flags)
    # Both kept with the session's reviews, who and when; the session's verdict untouched.
    detail = await db.get_session(sid)
    assert {(r.flag, r.decision, r.reviewer) for r in detail.reviews} == {
        ("customer_face", "overruled", "audrey"),
        ("second_face", "confirmed", "bob"),
    }
    assert detail.session.review_status == "unreviewed"


async def test_decisions_are_validated(db: Database) -> None:
    sid = await _session(db)
    await _inspected(db, sid, "fail", failed=["customer_face"])
    cases = [
        ("overrule", "  ", "audrey", "overruling 'customer_face' needs"),
        ("maybe", "x", "audrey", "decision must be confirm or"),
        ("overrule", "x" * 501, "audrey", "longer than 500"),
        ("confirm", "", " ", "reviewer must"),
    ]
    for decision, reason, reviewer, message in cases:
        with pytest.raises(StorageError, match=message):
            await db.decide_flag(
                sid, 1, "customer_face", decision=decision, reason=reason, reviewer=reviewer
            )
    with pytest.raises(NotFound, match="flag of part 1 'silence'"):
        await db.decide_flag(sid, 1, "silence", decision="confirm", reason="", reviewer="a")
    with pytest.raises(NotFound):
        await db.decide_flag("f" * 32, 1, "silence", decision="confirm", reason="", reviewer="a")
    assert len(await db.review_queue()) == 1


async def test_a_sampled_pass_leaves_the_queue_with_a_review_of_its_session(
    db: Database,
) -> None:
    sid = await _session(db, _ids_where(True, 1)[0])
    await _inspected(db, sid, "pass")
    assert [q.reason for q in await db.review_queue()] == [QueueReason.SAMPLED]
    await add_review(db, sid, verdict="pass", reasons="", reviewer="audrey")
    assert await db.review_queue() == []


async def test_the_share_is_the_databases_setting(target: Target) -> None:
    with pytest.raises(StorageError, match=r"from 0 to 1, got 1\.5"):
        Database(target.url, schema=target.schema, review_sample_share=1.5)
    every = Database(target.url, schema=target.schema, review_sample_share=1.0)
    async with every:
        sid = await _session(every, _ids_where(False, 1)[0])
        await _inspected(every, sid, "pass")
        assert [q.session_id for q in await every.review_queue()] == [sid]


async def test_search_by_inspection_verdict_and_failed_check(db: Database) -> None:
    failing, doubtful, never = [await _session(db) for _ in range(3)]
    passed = await _session(db, _ids_where(False, 1)[0])
    await _inspected(db, failing, "fail", failed=["customer_face"], needs_review=["silence"])
    await _inspected(db, doubtful, "needs_review", needs_review=["second_face"])
    await _inspected(db, passed, "pass")

    async def found(**query: str) -> set[str]:
        checks = await db.check_names()
        return ids(await search(db, SearchFilters.from_query(query, checks)))

    assert await found(inspection="fail") == {failing}
    assert await found(inspection="needs_review") == {doubtful}
    assert await found(inspection="pass") == {passed}
    assert never in await found(inspection="not_inspected")
    assert not {failing, doubtful, passed} & await found(inspection="not_inspected")
    assert await found(failed_check="customer_face") == {failing}
    assert await found(failed_check="silence") == set()  # needs review, did not fail
    assert await found(inspection="fail", failed_check="customer_face") == {failing}
    assert await db.session_verdicts([failing, passed, never]) == {
        failing: "fail",
        passed: "pass",
    }
    for query, message in (
        ({"inspection": "great"}, "inspection must be one of pass, needs_review, fail, not_in"),
        ({"failed_check": "extra_faces"}, "unknown check 'extra_faces' for failed_check"),
    ):
        with pytest.raises(StorageError, match=message):
            SearchFilters.from_query(query, await db.check_names())
    with pytest.raises(StorageError, match="failed_check must be a check's name"):
        SearchFilters.from_query({"failed_check": "Customer Face"})
