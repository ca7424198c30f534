"""Memory on disk: `remember` notes flushed to `<workspace>/memory/YYYY-MM-DD.md`.

One Markdown file per day (UTC), appended to. Each note carries a marker
`<!-- note <run_id>/<call_id> -->`, so flushing the same runs again writes
nothing twice. A flush is bounded by the agent's `memory_max_bytes`: past it
the whole flush is refused (MemoryLimit, 422 `memory_limit`) and nothing is
written, so the files never hold half a flush.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from hive.agentruntime.errors import MemoryLimit
from hive.agentruntime.hive_agent import HiveAgent
from hive.agentruntime.run_state import RunState, fold
from hive.contracts.agents import FlushMemoryResult


def _marker(run_id: str, call_id: str) -> str:
    return f"<!-- note {run_id}/{call_id} -->"


def flush(workspace: Path, runs: list[RunState], max_bytes: int) -> FlushMemoryResult:
    """Write the runs' notes not yet on disk; what was written."""
    folder = workspace / "memory"
    by_day: dict[str, list[str]] = defaultdict(list)
    existing: dict[str, str] = {}
    for state in runs:
        for note in state.notes:
            day = note.recorded_at.strftime("%Y-%m-%d")
            if day not in existing:
                path = folder / f"{day}.md"
                existing[day] = path.read_text(encoding="utf-8") if path.exists() else ""
            marker = _marker(state.run_id, note.call_id)
            if marker in existing[day] or any(marker in e for e in by_day[day]):
                continue
            stamp = note.recorded_at.strftime("%H:%M:%S")
            by_day[day].append(f"- {stamp} ({state.run_id}) {note.note} {marker}\n")
    total = sum(len(e.encode()) for entries in by_day.values() for e in entries)
    if total > max_bytes:
        raise MemoryLimit(
            f"flushing would write {total} bytes of notes; this agent's memory bound is "
            f"{max_bytes} bytes per flush (memory_max_bytes): flush fewer runs at a time"
        )
    files, notes = [], 0
    if by_day:
        folder.mkdir(parents=True, exist_ok=True)
    for day, entries in sorted(by_day.items()):
        path = folder / f"{day}.md"
        header = "" if existing[day] else f"# Memory {day}\n\n"
        with path.open("a", encoding="utf-8") as f:
            f.write(header + "".join(entries))
            f.flush()
            os.fsync(f.fileno())
        files.append(f"memory/{day}.md")
        notes += len(entries)
    return FlushMemoryResult(files=files, bytes=total, notes=notes)


async def flush_agent(agent: HiveAgent, workspace: Path, run_ids: list[str]) -> FlushMemoryResult:
    """Flush the notes of these runs of `agent` (its runs seen by this process when empty)."""
    states = [fold(await agent.host.read_run(r)) for r in (run_ids or agent.known_runs)]
    mine = [s for s in states if s.started and s.agent_id == agent.config.agent_id]
    return flush(workspace, mine, agent.config.memory_max_bytes)
