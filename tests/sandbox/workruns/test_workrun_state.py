"""WorkRunState: the Work Run lifecycle, and illegal transitions that leave state untouched."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hive.contracts.events import WorkRunEvent
from hive.events import InvalidTransition
from hive.sandbox.workruns.state import WorkRunState, decode_state, encode_state
from tests.events.workrun_events import (
    applied,
    apply_failed,
    approved,
    artifact,
    at,
    attempt_finished,
    attempt_started,
    cancelled,
    checkpoint,
    command_finished,
    command_started,
    created,
    fold,
    marked_stale,
    patch_proposed,
    rejected,
    requeued,
    seeded,
)

# Prefixes that bring a stream into each state (all legal).
QUEUED = [created("t"), seeded("t")]
RUNNING = [*QUEUED, attempt_started(1), checkpoint(1, 1)]
PROPOSED = [*RUNNING, patch_proposed(1)]
AWAITING_REVIEW = [*PROPOSED, attempt_finished(1, "succeeded")]
APPROVED = [*AWAITING_REVIEW, approved()]
APPLIED = [*APPROVED, applied()]
APPLY_FAILED = [*APPROVED, apply_failed()]
REJECTED = [*AWAITING_REVIEW, rejected()]
FAILED = [*RUNNING, attempt_finished(1, "failed", "exit 1")]
STALE = [*RUNNING, marked_stale(1)]
CANCELLED = [*RUNNING, cancelled()]
REQUEUED = [*FAILED, requeued("t2")]


def test_happy_path_to_applied() -> None:
    state = WorkRunState()
    expected_states = {
        1: "queued",
        2: "queued",
        3: "running",
        4: "running",
        5: "running",
        6: "running",
        7: "awaiting_review",
        8: "approved",
        9: "applied",
    }
    stream = [
        created("t"),
        seeded("t"),
        attempt_started(1),
        checkpoint(1, 1, durable=False),
        checkpoint(2, 1),
        patch_proposed(1),
        attempt_finished(1, "succeeded"),
        approved(),
        applied(),
    ]
    for version, event in enumerate(stream, start=1):
        state.apply(event, version, at(version))
        assert state.state == expected_states[version], type(event).__name__
    assert state.stream_version == 9
    assert state.updated_at == at(9)
    assert state.seeded and state.manifest is not None
    assert state.latest_checkpoint is not None and state.latest_durable is not None
    assert state.latest_checkpoint.checkpoint_sequence_no == 2
    assert state.patch is not None and state.patch.attempt_no == 1
    status = state.to_status()
    assert status.state == "applied"
    assert status.current_attempt_no == 1
    assert status.attempts[0].outcome == "succeeded"
    assert status.latest_checkpoint is not None
    assert status.latest_checkpoint.checkpoint_payload == {"step": 2}
    assert status.runtime is not None and status.runtime.backend_run_id == "run-1"


def test_latest_durable_checkpoint_is_kept_apart_from_the_latest() -> None:
    state = fold([*QUEUED, attempt_started(1), checkpoint(1, 1), checkpoint(2, 1, durable=False)])
    assert state.latest_checkpoint is not None and state.latest_durable is not None
    assert (
        state.latest_checkpoint.checkpoint_sequence_no,
        state.latest_durable.checkpoint_sequence_no,
    ) == (2, 1)


def test_failed_attempt_resumes_in_place_from_the_durable_checkpoint() -> None:
    state = fold([*FAILED, attempt_started(2, resumed_from=1), checkpoint(2, 2)])
    assert state.state == "running"
    assert [a.attempt_no for a in state.attempts] == [1, 2]
    assert state.attempts[0].state == "finished" and state.attempts[0].outcome == "failed"
    assert state.attempts[1].resumed_from_checkpoint == 1
    assert state.reason is None
    assert state.runtime is not None and state.runtime.backend_run_id == "run-2"


def test_stale_attempt_resumes_in_place() -> None:
    state = fold(STALE)
    assert state.state == "stale" and state.attempts[0].state == "stale"
    state.apply(attempt_started(2, resumed_from=1), len(STALE) + 1, at(50))
    assert state.state == "running" and state.next_attempt_no() == 3


def test_cancelled_running_attempt_may_still_report_its_end() -> None:
    state = fold([*CANCELLED, attempt_finished(1, "cancelled")])
    assert state.state == "cancelled"
    assert state.attempts[0].state == "finished"


def test_cancel_from_each_cancellable_state() -> None:
    for prefix in (QUEUED, RUNNING, STALE, FAILED, AWAITING_REVIEW, APPLY_FAILED):
        assert fold([*prefix, cancelled()]).state == "cancelled"


def test_requeue_links_both_streams() -> None:
    old = fold(REQUEUED)
    assert old.requeued_to == "t2"
    assert old.state == "failed"
    new = fold([created("t2", requeued_from="t")])
    assert new.requeued_from == "t"
    assert old.to_status().requeued_to == new.task_id
    assert new.to_status().requeued_from == old.task_id


def test_requeue_from_each_requeueable_state() -> None:
    for prefix in (STALE, FAILED, CANCELLED, REJECTED, APPLY_FAILED):
        assert fold([*prefix, requeued("t9")]).requeued_to == "t9"


def test_artifacts_and_commands_are_tracked_in_any_live_state() -> None:
    state = fold(
        [
            *RUNNING,
            command_started("c1"),
            artifact("out.txt"),
            artifact("out.txt"),
            command_finished("c1"),
        ]
    )
    assert list(state.artifacts) == ["out.txt"]
    assert state.running_commands == []


ILLEGAL: list[tuple[str, list[WorkRunEvent], WorkRunEvent]] = [
    ("stream must start with DevTaskCreated", [], seeded("t")),
    ("created twice", QUEUED, created("t")),
    ("seeded twice", QUEUED, seeded("t")),
    ("seeded while running", RUNNING, seeded("t")),
    ("attempt number skipped", QUEUED, attempt_started(2)),
    ("second attempt while running", RUNNING, attempt_started(2)),
    ("resume with a reused number", FAILED, attempt_started(1)),
    ("resume after requeue", REQUEUED, attempt_started(2)),
    ("resume after applied", APPLIED, attempt_started(2)),
    ("resume after rejected", REJECTED, attempt_started(2)),
    ("checkpoint before any attempt", QUEUED, checkpoint(1, 1)),
    ("checkpoint sequence repeated", RUNNING, checkpoint(1, 1)),
    ("checkpoint sequence skipped", RUNNING, checkpoint(3, 1)),
    ("checkpoint of another attempt", RUNNING, checkpoint(2, 2)),
    ("checkpoint while stale", STALE, checkpoint(2, 1)),
    ("succeeded without a patch", RUNNING, attempt_finished(1, "succeeded")),
    ("finished attempt is not the current one", RUNNING, attempt_finished(2, "failed")),
    ("attempt finished twice", FAILED, attempt_finished(1, "failed")),
    ("finish while queued", QUEUED, attempt_finished(1, "failed")),
    ("patch while queued", QUEUED, patch_proposed(1)),
    ("patch of another attempt", RUNNING, patch_proposed(2)),
    ("stale while queued", QUEUED, marked_stale(1)),
    ("stale twice", STALE, marked_stale(1)),
    ("approve while running", RUNNING, approved()),
    ("approve twice", APPROVED, approved()),
    ("reject after approve", APPROVED, rejected()),
    ("apply without approval", AWAITING_REVIEW, applied()),
    ("apply twice", APPLIED, applied()),
    ("apply-failed without approval", AWAITING_REVIEW, apply_failed()),
    ("requeue while running", RUNNING, requeued("t2")),
    ("requeue twice", REQUEUED, requeued("t3")),
    ("requeue after applied", APPLIED, requeued("t2")),
    ("cancel after applied", APPLIED, cancelled()),
    ("cancel twice", CANCELLED, cancelled()),
    ("cancel while approved (apply-back in flight)", APPROVED, cancelled()),
]


@pytest.mark.parametrize(("prefix", "event"), [c[1:] for c in ILLEGAL], ids=[c[0] for c in ILLEGAL])
def test_illegal_transition_raises_and_leaves_state_unchanged(
    prefix: list[WorkRunEvent], event: WorkRunEvent
) -> None:
    state = fold(prefix)
    before = encode_state(state)
    with pytest.raises(InvalidTransition) as err:
        state.apply(event, len(prefix) + 1, at(999))
    assert err.value.event_type == type(event).__name__
    assert err.value.state == str(state.state)
    assert encode_state(state) == before


@pytest.mark.parametrize(
    "make",
    [lambda: fold(REQUEUED), lambda: fold(APPLIED), lambda: fold(RUNNING)],
    ids=["requeued", "applied", "running"],
)
def test_state_round_trips_through_snapshot_bytes(make: Callable[[], WorkRunState]) -> None:
    state = make()
    assert decode_state(encode_state(state)) == state
