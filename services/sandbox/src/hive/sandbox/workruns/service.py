"""WorkRuns: every Work Run command, decided against the folded stream and appended.

The service is one class put together from one part per concern, each in its
own module on the shared write path (`decide.WorkRunBase._decide`):

    decide.py     fold, decide, append; status_of          (WorkRunBase)
    intake.py     create, requeue                          (Intake)
    attempts.py   checkpoints, artifacts, commands, finish (Attempts)
    review.py     cancel, reject, approve and apply back   (Review)
    recovery.py   resume, stale leases, abandon            (Recovery)
    queries.py    status, lists, events, patch, artifacts  (Queries)

The HTTP API and the worker use `WorkRuns`; the names other code imports from
this module (`BackendCatalog`, `now`, `new_task_id`, `stored_event`, ...) stay here.
"""

from __future__ import annotations

from hive.sandbox.workruns.attempts import ARTIFACT_NAME, MAX_ARTIFACT_BYTES, Attempts
from hive.sandbox.workruns.catalog import BackendCatalog
from hive.sandbox.workruns.decide import (
    MAX_RETRIES,
    AfterApprove,
    Decide,
    Decided,
    new_task_id,
    now,
)
from hive.sandbox.workruns.intake import Intake
from hive.sandbox.workruns.queries import Queries, stored_event
from hive.sandbox.workruns.recovery import Recovery
from hive.sandbox.workruns.review import APPLY_WAIT_S, Review


class WorkRuns(Intake, Attempts, Review, Recovery, Queries):
    """The Work Run domain service (shared by the HTTP API and the worker)."""


__all__ = [
    "APPLY_WAIT_S",
    "ARTIFACT_NAME",
    "MAX_ARTIFACT_BYTES",
    "MAX_RETRIES",
    "AfterApprove",
    "BackendCatalog",
    "Decide",
    "Decided",
    "WorkRuns",
    "new_task_id",
    "now",
    "stored_event",
]
