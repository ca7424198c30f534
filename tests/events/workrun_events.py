"""Builders for Work Run events, and the legal next events of a WorkRunState.

Shared by the store, projection and state-machine tests. `legal_next_events`
asks `WorkRunState.apply` itself which candidates are legal, so generated
streams are exactly the ones the sandbox could have written.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from hive.contracts.events import (
    ArtifactRecorded,
    AttemptFinished,
    AttemptMarkedStale,
    AttemptOutcome,
    AttemptStarted,
    CheckpointRecorded,
    CommandFinished,
    CommandStarted,
    DevTaskCreated,
    PatchApplied,
    PatchApplyFailed,
    PatchProposed,
    TaskApproved,
    TaskCancelled,
    TaskRejected,
    TaskRequeued,
    WorkRunEvent,
    WorkspaceSeeded,
)
from hive.contracts.manifest import WorkspaceManifest
from hive.events.errors import InvalidTransition
from hive.sandbox.workruns.state import WorkRunState, decode_state, encode_state

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: int) -> datetime:
    """A fixed instant, `seconds` after T0 (events carry no wall-clock randomness)."""
    return T0 + timedelta(seconds=seconds)


def created(
    task_id: str, *, project_id: str = "proj", requeued_from: str | None = None
) -> DevTaskCreated:
    """DevTaskCreated for `task_id`."""
    return DevTaskCreated(
        task_id=task_id,
        project_id=project_id,
        instructions='{"steps": []}',
        backend="deterministic_proof",
        target_paths=["src"],
        requeued_from=requeued_from,
        created_at=at(0),
    )


def seeded(task_id: str) -> WorkspaceSeeded:
    """WorkspaceSeeded from an archive."""
    return WorkspaceSeeded(
        source="archive",
        repo_path=f"/sandbox/tasks/{task_id}/repo",
        baseline_commit="0" * 40,
        file_count=3,
        size_bytes=120,
        manifest=WorkspaceManifest(
            task_id=task_id,
            repo_path_class="archive_seed",
            repo_path=f"/sandbox/tasks/{task_id}/repo",
            artifact_manifest_path=f"/sandbox/tasks/{task_id}/artifacts/manifest.json",
            source_archive_present=True,
        ),
        seeded_at=at(1),
    )


def attempt_started(attempt_no: int, *, resumed_from: int | None = None) -> AttemptStarted:
    """AttemptStarted number `attempt_no`."""
    return AttemptStarted(
        attempt_no=attempt_no,
        attempt_id=f"att-{attempt_no}",
        backend="deterministic_proof",
        backend_run_id=f"run-{attempt_no}",
        execution_class="local",
        artifact_root="/sandbox/tasks/t/artifacts",
        log_root="/sandbox/tasks/t/logs",
        resumed_from_checkpoint=resumed_from,
        started_at=at(10 * attempt_no),
    )


def attempt_finished(
    attempt_no: int, outcome: AttemptOutcome = "succeeded", reason: str | None = None
) -> AttemptFinished:
    """AttemptFinished of `attempt_no`."""
    return AttemptFinished(
        attempt_no=attempt_no,
        attempt_id=f"att-{attempt_no}",
        outcome=outcome,
        reason=reason,
        finished_at=at(10 * attempt_no + 9),
    )


def marked_stale(attempt_no: int) -> AttemptMarkedStale:
    """AttemptMarkedStale of `attempt_no`."""
    return AttemptMarkedStale(
        attempt_no=attempt_no,
        attempt_id=f"att-{attempt_no}",
        reason="lease expired",
        lease_expired_at=at(10 * attempt_no + 5),
        marked_at=at(10 * attempt_no + 6),
    )


def checkpoint(sequence_no: int, attempt_no: int, *, durable: bool = True) -> CheckpointRecorded:
    """CheckpointRecorded whose payload names the step."""
    return CheckpointRecorded(
        checkpoint_sequence_no=sequence_no,
        attempt_no=attempt_no,
        durable=durable,
        checkpoint_payload={"step": sequence_no},
        recorded_at=at(10 * attempt_no + 1),
    )


def artifact(name: str, attempt_no: int | None = 1) -> ArtifactRecorded:
    """ArtifactRecorded."""
    return ArtifactRecorded(
        name=name, size_bytes=5, sha256="a" * 64, attempt_no=attempt_no, recorded_at=at(2)
    )


def command_started(command_id: str) -> CommandStarted:
    """CommandStarted."""
    return CommandStarted(
        command_id=command_id, argv=["git", "status"], cwd="/repo", started_at=at(3)
    )


def command_finished(command_id: str) -> CommandFinished:
    """CommandFinished with exit code 0."""
    return CommandFinished(command_id=command_id, state="exited", exit_code=0, finished_at=at(4))


def patch_proposed(attempt_no: int) -> PatchProposed:
    """PatchProposed by `attempt_no`."""
    return PatchProposed(
        attempt_no=attempt_no,
        files_changed=1,
        insertions=2,
        deletions=1,
        size_bytes=80,
        sha256="b" * 64,
        paths=["src/a.py"],
        proposed_at=at(10 * attempt_no + 8),
    )


def approved() -> TaskApproved:
    """TaskApproved."""
    return TaskApproved(approved_by="admin", approved_at=at(100))


def applied() -> PatchApplied:
    """PatchApplied directly."""
    return PatchApplied(mode="direct", target="/work/repo", applied_at=at(101))


def apply_failed() -> PatchApplyFailed:
    """PatchApplyFailed."""
    return PatchApplyFailed(
        mode="direct", target="/work/repo", reason="conflict", failed_at=at(101)
    )


def rejected() -> TaskRejected:
    """TaskRejected."""
    return TaskRejected(rejected_by="admin", reason="no", rejected_at=at(100))


def requeued(new_task_id: str) -> TaskRequeued:
    """TaskRequeued into `new_task_id`."""
    return TaskRequeued(new_task_id=new_task_id, reason="fork", requeued_at=at(102))


def cancelled() -> TaskCancelled:
    """TaskCancelled."""
    return TaskCancelled(reason="operator", cancelled_by="admin", cancelled_at=at(103))


def copy_state(state: WorkRunState) -> WorkRunState:
    """A deep copy (apply mutates in place)."""
    return decode_state(encode_state(state))


def fold(events: Iterable[WorkRunEvent]) -> WorkRunState:
    """Fold events from an empty state, versions 1..n."""
    state = WorkRunState()
    for version, event in enumerate(events, start=1):
        state.apply(event, version, at(version))
    return state


def is_legal(state: WorkRunState, event: WorkRunEvent) -> bool:
    """Would `event` be accepted next?"""
    try:
        copy_state(state).apply(event, state.stream_version + 1, at(0))
    except InvalidTransition:
        return False
    return True


def _candidates(state: WorkRunState, task_id: str) -> list[WorkRunEvent]:
    n = state.next_attempt_no()
    current = state.current_attempt.attempt_no if state.current_attempt else 1
    durable = state.latest_durable.checkpoint_sequence_no if state.latest_durable else None
    serial = state.stream_version
    return [
        created(task_id),
        seeded(task_id),
        attempt_started(n, resumed_from=durable if n > 1 else None),
        checkpoint(state.last_sequence_no + 1, current, durable=serial % 3 != 2),
        patch_proposed(current),
        attempt_finished(current, "succeeded"),
        attempt_finished(current, "failed", "exit 1"),
        attempt_finished(current, "cancelled"),
        marked_stale(current),
        artifact(f"log-{serial}.txt", current),
        command_started(f"cmd-{task_id}-{serial}"),
        *(command_finished(c) for c in state.running_commands[:1]),
        approved(),
        applied(),
        apply_failed(),
        rejected(),
        requeued(f"{task_id}-r{serial}"),
        cancelled(),
    ]


def legal_next_events(state: WorkRunState, task_id: str) -> list[WorkRunEvent]:
    """Every candidate event `WorkRunState.apply` would accept next."""
    return [e for e in _candidates(state, task_id) if is_legal(state, e)]
