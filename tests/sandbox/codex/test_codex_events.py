"""The `--json` event mapper against streams recorded from the real CLI (tests/fixtures/codex)."""

from __future__ import annotations

import json
from pathlib import Path

from hive.sandbox.codex.events import (
    CheckpointDue,
    CodexEventMapper,
    CommandBegan,
    CommandEnded,
    Effect,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "codex"
REPO = Path("/sandbox/tasks/recorded/repo")


def _replay(name: str, mapper: CodexEventMapper) -> tuple[list[Effect], dict[str, object]]:
    effects: list[Effect] = []
    for line in (FIXTURES / f"{name}.jsonl").read_text().splitlines():
        effects.extend(mapper.feed(line))
    return effects, json.loads((FIXTURES / f"{name}.meta.json").read_text())


def test_exec_then_patch_then_message() -> None:
    mapper = CodexEventMapper(attempt_no=1, repo_dir=REPO)
    effects, meta = _replay("exec_patch_message", mapper)
    kinds = [type(e).__name__ for e in effects]
    assert kinds == ["CommandBegan", "CommandEnded", "CheckpointDue", "CheckpointDue"]
    began, ended = effects[0], effects[1]
    assert isinstance(began, CommandBegan) and began.argv[:2] == ["/bin/bash", "-c"]
    assert isinstance(ended, CommandEnded) and ended.exit_code == 0
    command_cp, patch_cp = effects[2], effects[3]
    assert isinstance(command_cp, CheckpointDue) and isinstance(patch_cp, CheckpointDue)
    assert command_cp.payload["kind"] == "command" and command_cp.payload["step"] == 1
    assert patch_cp.payload["kind"] == "file_change" and patch_cp.payload["step"] == 2
    assert patch_cp.payload["changes"] == [
        {"path": "greeting.txt", "kind": "update"},
        {"path": "notes/added.md", "kind": "add"},
    ]
    assert patch_cp.payload["progress"]["files_changed"] == ["greeting.txt", "notes/added.md"]
    assert patch_cp.payload["thread_id"] == mapper.thread_id is not None
    result = mapper.finish(int(meta["returncode"]), str(meta["last_message"]))  # type: ignore[call-overload]
    assert result.outcome == "succeeded" and result.reason is None
    assert result.last_message == "Updated greeting.txt and added notes/added.md."
    assert result.checkpoints == 2
    assert result.usage is not None and result.usage["output_tokens"] == 15


def test_provider_down_fails_with_the_reason() -> None:
    mapper = CodexEventMapper(attempt_no=1, repo_dir=REPO)
    effects, meta = _replay("provider_down", mapper)
    assert effects == []
    result = mapper.finish(int(meta["returncode"]))  # type: ignore[call-overload]
    assert result.outcome == "failed"
    assert result.reason == "codex turn failed: Connection failed: error sending request"


def test_warnings_are_not_fatal_and_failed_commands_still_checkpoint() -> None:
    mapper = CodexEventMapper(attempt_no=1, repo_dir=REPO)
    effects, meta = _replay("unknown_model_exec", mapper)
    assert len(mapper.warnings) == 1 and "qwen3-max" in mapper.warnings[0]
    checkpoints = [e for e in effects if isinstance(e, CheckpointDue)]
    assert len(checkpoints) == 1 and checkpoints[0].payload["exit_code"] == 1
    assert mapper.finish(int(meta["returncode"])).outcome == "succeeded"  # type: ignore[call-overload]


def test_a_resumed_attempt_carries_earlier_progress_forward() -> None:
    earlier = {"files_changed": ["old.txt"], "commands": [{"command": "x", "exit_code": 0}]}
    mapper = CodexEventMapper(attempt_no=2, repo_dir=REPO, previous=earlier)
    effects, _ = _replay("exec_patch_message", mapper)
    last = [e for e in effects if isinstance(e, CheckpointDue)][-1]
    assert last.payload["attempt_no"] == 2
    assert last.payload["progress"]["files_changed"] == [
        "old.txt",
        "greeting.txt",
        "notes/added.md",
    ]
    assert len(last.payload["progress"]["commands"]) == 2


def test_exit_codes_and_garbage() -> None:
    mapper = CodexEventMapper(attempt_no=1, repo_dir=REPO)
    assert mapper.feed("not json") == [] and mapper.feed("[1]") == []
    assert mapper.unparsed_lines == 2
    assert mapper.finish(0).reason == "codex exited without completing its turn"
    mapper.feed('{"type":"error","message":"bad config"}')
    assert mapper.finish(1).reason == "codex exited with code 1: bad config"


def test_a_resumed_attempt_without_a_message_reports_none_of_its_own() -> None:
    mapper = CodexEventMapper(attempt_no=2, repo_dir=REPO, previous={"last_message": "old"})
    mapper.feed('{"type":"turn.completed","usage":{}}')
    assert mapper.finish(0).last_message is None
    assert mapper.progress()["last_message"] == "old"
