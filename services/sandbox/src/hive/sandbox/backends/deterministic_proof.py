"""`deterministic_proof`: no model, a fixed plan; proves seeding, attempts, checkpoints,
artifacts and resume in place end to end.

The plan is the task's `instructions`, a JSON object `{"steps": [...]}`:

- `{"write": {"path", "content"}}`   write a file in the repo (parents created)
- `{"run": {"argv": [...]}}`         a governed command in the repo; non-zero fails
- `{"sleep": {"seconds"}}`           wait (cut short by cancellation)
- `{"artifact": {"name", "content"}}` persist an artifact
- `{"fail": {"on_attempt": N}}`      fail attempt N on purpose (a no-op on others)

After each completed step a durable checkpoint `{"step": i, "kind": ...,
"steps_total": n}` is recorded. A resumed attempt starts at `step + 1` of the
checkpoint it was handed, so a step that completed (and was checkpointed)
never runs twice; a step interrupted before its checkpoint runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

import msgspec

from hive.sandbox.backends.base import AttemptContext, AttemptResult

STEP_KINDS = ("write", "run", "sleep", "artifact", "fail")


class InvalidPlan(ValueError):
    """The instructions are not a deterministic_proof plan."""


PLAN_FORMAT = (
    'deterministic_proof reads a JSON plan from instructions: {"steps": [...]} with steps '
    '{"write": {"path", "content"}}, {"run": {"argv": [...]}}, {"sleep": {"seconds"}}, '
    '{"artifact": {"name", "content"}} or {"fail": {"on_attempt"}}'
)


def parse_plan(instructions: str) -> list[tuple[str, dict[str, Any]]]:
    """The plan's steps as (kind, arguments), every argument checked; InvalidPlan names what is wrong.

    Called when a task is created (a bad plan is a 422 then, not a failed attempt
    later) and again by each attempt.
    """
    try:
        data = msgspec.json.decode(instructions)
    except msgspec.DecodeError as exc:
        raise InvalidPlan(f"instructions are not JSON ({exc}); {PLAN_FORMAT}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise InvalidPlan(f"instructions must be a JSON object with a steps list; {PLAN_FORMAT}")
    steps: list[tuple[str, dict[str, Any]]] = []
    for i, step in enumerate(data["steps"]):
        if not isinstance(step, dict) or len(step) != 1:
            raise InvalidPlan(f"step {i}: an object with one of {', '.join(STEP_KINDS)} expected")
        ((kind, args),) = step.items()
        if kind not in STEP_KINDS:
            raise InvalidPlan(f"step {i}: unknown step {kind!r}; one of {', '.join(STEP_KINDS)}")
        if not isinstance(args, dict):
            raise InvalidPlan(f"step {i}: {kind} takes an object of arguments")
        try:
            _check_step(kind, args)
        except InvalidPlan as exc:
            raise InvalidPlan(f"step {i}: {exc}") from None
        steps.append((kind, args))
    return steps


def _check_step(kind: str, args: dict[str, Any]) -> None:
    """What can be known of a step's arguments before it runs."""
    if kind == "write":
        rel = args.get("path")
        if not isinstance(rel, str) or not rel or rel.startswith("/") or ".." in rel.split("/"):
            raise InvalidPlan(f"write path {rel!r} must be relative to the repo, without '..'")
        if ".git" in rel.split("/"):
            raise InvalidPlan("write path may not touch .git")
        if not isinstance(args.get("content", ""), str):
            raise InvalidPlan("write content must be a string")
    elif kind == "run":
        argv = args.get("argv")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise InvalidPlan("run argv must be a non-empty list of strings")
    elif kind == "sleep":
        seconds = args.get("seconds", 0)
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise InvalidPlan("sleep seconds must be a non-negative number")
    elif kind == "artifact":
        if not isinstance(args.get("name"), str) or not isinstance(args.get("content", ""), str):
            raise InvalidPlan("artifact needs a string name and content")
    elif kind == "fail":
        on_attempt = args.get("on_attempt", 1)
        if isinstance(on_attempt, bool) or not isinstance(on_attempt, int) or on_attempt < 1:
            raise InvalidPlan("fail on_attempt must be a positive integer")


def _repo_file(repo: Path, rel: str) -> Path:
    """A path inside the repo (checked by parse_plan), refusing symlinked parents."""
    target = repo / rel
    real_parent = os.path.realpath(target.parent)
    real_repo = os.path.realpath(repo)
    if not (real_parent == real_repo or real_parent.startswith(real_repo + os.sep)):
        raise InvalidPlan(f"write path {rel!r} leaves the repo")
    return target


class DeterministicProof:
    """Runs the plan in `instructions`, one durable checkpoint per step."""

    name = "deterministic_proof"
    execution_class = "in_process"

    def check_instructions(self, instructions: str) -> None:
        """Refuse, at create, a plan this backend could never run (InvalidPlan says why)."""
        parse_plan(instructions)

    async def run(self, ctx: AttemptContext) -> AttemptResult:
        """Run the steps after the resume checkpoint (or all of them)."""
        try:
            steps = parse_plan(ctx.instructions)
        except InvalidPlan as exc:
            return AttemptResult("failed", str(exc))
        start = 0
        if ctx.resume_checkpoint is not None and isinstance(ctx.resume_checkpoint.get("step"), int):
            start = int(ctx.resume_checkpoint["step"]) + 1
        for i in range(start, len(steps)):
            if ctx.cancelled.is_set():
                return AttemptResult("cancelled", f"cancelled before step {i}")
            kind, args = steps[i]
            try:
                failure = await self._step(ctx, i, kind, args)
            except InvalidPlan as exc:
                return AttemptResult("failed", f"step {i}: {exc}")
            if failure is not None:
                # A command stopped by the cancel "failed" only because it was cancelled.
                return AttemptResult("cancelled" if ctx.cancelled.is_set() else "failed", failure)
            if ctx.cancelled.is_set() and kind == "sleep":
                return AttemptResult("cancelled", f"cancelled during step {i}")
            await ctx.checkpoint({"step": i, "kind": kind, "steps_total": len(steps)}, durable=True)
        return AttemptResult("succeeded", None, f"{len(steps) - start} steps")

    async def _step(
        self, ctx: AttemptContext, i: int, kind: str, args: dict[str, Any]
    ) -> str | None:
        if kind == "write":
            target = _repo_file(ctx.repo_dir, args["path"])
            await asyncio.to_thread(_write, target, args.get("content", ""))
        elif kind == "run":
            argv = args["argv"]
            done = await ctx.run_command(list(argv), cwd=ctx.repo_dir)
            if done.state != "exited" or done.exit_code != 0:
                why = done.reason or f"state {done.state}, exit code {done.exit_code}"
                return f"step {i}: command {argv[0]!r} failed ({why})"
        elif kind == "sleep":
            seconds = args.get("seconds", 0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ctx.cancelled.wait(), timeout=float(seconds))
        elif kind == "artifact":
            name, content = args["name"], args.get("content", "")
            await ctx.artifact(name, content.encode(), content_type="text/plain; charset=utf-8")
        elif kind == "fail":
            on_attempt = args.get("on_attempt", 1)
            if on_attempt == ctx.attempt_no:
                return f"step {i} fails attempt {ctx.attempt_no} on purpose"
        return None


def _write(target: Path, content: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)


def create(settings: object, confinement: object = None) -> DeterministicProof:
    """Build the backend (it needs no settings; its steps run as governed commands)."""
    return DeterministicProof()
