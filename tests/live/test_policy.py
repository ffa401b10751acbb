"""When live tracks are identified and when an appearance leaves records: the policy, the
per-person cooldown and the calls-per-minute budget, on synthetic inputs."""

from __future__ import annotations

import pytest

from core.live.policy import (
    KNOWN,
    NO_FACE,
    UNKNOWN,
    CallBudget,
    Cooldown,
    Identity,
    IdentityPolicy,
    PolicyConfig,
    RecordDue,
)

AREA = 100.0 * 100.0


@pytest.fixture
def policy():
    return IdentityPolicy(PolicyConfig(), Cooldown(30))


def attempt(policy, ident, now, person=None, similarity=None, area=AREA):
    assert policy.due(area, 1, ident, now)
    policy.started(area, ident, now)
    assert not policy.due(area, 1, ident, now)  # never twice at once
    return policy.identified(ident, person, similarity, now)


def test_cooldown_is_per_key_and_expires():
    c = Cooldown(30)
    assert c.try_start("amy", 0.0)
    assert not c.try_start("amy", 29.9)
    assert c.remaining("amy", 10.0) == pytest.approx(20.0)
    assert c.try_start("bernadette", 10.0)
    assert c.try_start("amy", 30.0)
    assert c.remaining("nobody", 0.0) == 0.0


def test_cooldown_memory_is_bounded():
    c = Cooldown(1, max_keys=100)
    for i in range(1000):
        c.try_start(f"p{i}", float(i))
    assert len(c._last) <= 101


def test_a_new_track_is_identified_at_once_and_a_known_person_recorded_once(policy):
    ident = Identity()
    assert attempt(policy, ident, 0.0, "amy", 99.0) == RecordDue("amy")
    assert (ident.state, ident.person, ident.door) == (KNOWN, "amy", "opened")
    # Not identified again while the face stays the same...
    assert not policy.due(AREA, 5, ident, 10.0)
    # ...and when it is (after a while, or a bigger face), the same person writes nothing new.
    assert policy.due(AREA, 5, ident, 30.0)
    assert policy.due(AREA * 2, 5, ident, 1.0)
    assert attempt(policy, ident, 31.0, "amy", 98.0) is None


def test_the_same_person_in_another_track_within_the_cooldown_is_not_recorded(policy):
    first, second, third = Identity(), Identity(), Identity()
    assert attempt(policy, first, 0.0, "amy", 99.0) == RecordDue("amy")
    assert attempt(policy, second, 10.0, "amy", 99.0) is None
    assert second.door == "cooldown" and second.person == "amy"
    assert attempt(policy, Identity(), 11.0, "bernadette", 97.0) == RecordDue("bernadette")
    assert attempt(policy, third, 30.0, "amy", 99.0) == RecordDue("amy")  # cooled down


def test_a_stranger_is_recorded_once_after_the_retries_or_when_leaving(policy):
    ident = Identity()
    assert attempt(policy, ident, 0.0) is None  # one unknown result may be a poor frame
    assert (ident.state, ident.door) == (UNKNOWN, "closed")
    assert not policy.due(AREA, 3, ident, 1.0)
    assert attempt(policy, ident, 1.5) == RecordDue(None)  # second unknown: a stranger
    assert not policy.due(AREA, 9, ident, 10.0)  # then only after a while or a change
    assert attempt(policy, ident, 32.0) is None  # never recorded twice
    assert policy.ended(ident) is None

    leaving = Identity()
    assert attempt(policy, leaving, 0.0) is None
    assert policy.ended(leaving) == RecordDue(None)  # left before the retry: recorded on leaving


def test_unknown_far_away_then_known_close_up_records_only_the_known_person(policy):
    ident = Identity()
    assert attempt(policy, ident, 0.0, area=AREA) is None
    assert attempt(policy, ident, 0.5, "amy", 95.0, area=AREA * 1.6) == RecordDue("amy")  # grew: due at once
    assert ident.door == "opened"
    assert policy.ended(ident) is None


def test_one_unknown_frame_of_a_known_face_keeps_the_name(policy):
    ident = Identity()
    attempt(policy, ident, 0.0, "amy", 99.0)
    assert attempt(policy, ident, 30.0) is None
    assert (ident.state, ident.person) == (KNOWN, "amy")


def test_a_patch_without_a_face_is_retried_then_left_alone_until_it_changes(policy):
    ident = Identity()
    for n, now in enumerate((0.0, 1.0, 2.0)):
        assert policy.due(AREA, 1, ident, now), n
        policy.started(AREA, ident, now)
        policy.no_face(ident)
        assert ident.state == NO_FACE and ident.person is None
    assert not policy.due(AREA, 50, ident, 100.0)
    assert policy.due(AREA * 2, 50, ident, 100.0)
    assert policy.ended(ident) is None  # never logged


def test_a_failed_call_is_retried_as_if_not_tried(policy):
    ident = Identity()
    policy.started(AREA, ident, 0.0)
    policy.failed(ident)
    assert ident.attempts == 0 and policy.due(AREA, 1, ident, 0.1)


def test_min_hits_and_priority():
    policy = IdentityPolicy(PolicyConfig(min_hits=2), Cooldown(30))
    ident = Identity()
    assert not policy.due(AREA, 1, ident, 0.0)
    assert policy.due(AREA, 2, ident, 0.0)
    tried = Identity(attempts=1)
    keys = sorted(
        [
            (policy.priority(AREA * 4, tried), "big tried"),
            (policy.priority(AREA, ident), "small new"),
            (policy.priority(AREA * 2, ident), "big new"),
        ]
    )
    assert [k[1] for k in keys] == ["big new", "small new", "big tried"]


def test_the_call_budget_allows_a_burst_then_the_rate():
    now = [0.0]
    budget = CallBudget(per_minute=60, burst=3, clock=lambda: now[0])
    assert [budget.take() for _ in range(4)] == [True, True, True, False]
    assert budget.wait_seconds() == pytest.approx(1.0)
    now[0] = 1.0
    assert budget.take() and not budget.take()


def test_a_face_found_again_is_checked_again_and_keeps_no_name_meanwhile(policy):
    ident = Identity()
    attempt(policy, ident, 0.0, "amy", 99.0)
    policy.reacquired(ident, 0.9)
    assert ident.stale and policy.due(AREA, 9, ident, 1.0)  # at once, not after 30 s
    assert policy.outdated(ident, 0.5) and not policy.outdated(ident, 1.0)  # answers about older frames are void
    assert attempt(policy, ident, 1.0, "amy", 97.0) is None  # the same person: nothing new
    assert not ident.stale and ident.person == "amy"
    fresh = Identity()
    policy.reacquired(fresh, 2.0)  # never identified yet: nothing to re-check
    assert not fresh.stale


def test_the_same_stranger_is_logged_once_per_cooldown():
    import numpy as np

    c = Cooldown(30)
    face = np.array([1.0, 0.0, 0.0])
    other = np.array([0.0, 1.0, 0.0])
    assert c.try_start_stranger(face, 0.0)
    assert not c.try_start_stranger(np.array([0.99, 0.14, 0.0]), 5.0)  # the same face again
    assert c.try_start_stranger(other, 6.0)  # someone else
    assert c.try_start_stranger(face, 31.0)  # cooled down
    assert c.try_start_stranger(None, 31.0) and c.try_start_stranger(None, 31.0)  # no signature: no dedupe
