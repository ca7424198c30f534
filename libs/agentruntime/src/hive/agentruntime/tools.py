"""The tools a HiveAgent offers the model, as OpenAI function definitions, and their dispatch."""

from __future__ import annotations

import json
from typing import Any

from hive.agentruntime.host import AgentHost
from hive.contracts.agents import AgentDevTaskCreate

TOOL_SCHEMAS: dict[str, dict[str, Any]] = {
    "create_dev_task": {
        "description": "Create a Work Run (a sandbox dev task) in this agent's project.",
        "parameters": {
            "type": "object",
            "properties": {
                "instructions": {"type": "string"},
                "backend": {"type": "string"},
                "target_paths": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["instructions"],
        },
    },
    "get_dev_task": {
        "description": "The status of a Work Run of this project.",
        "parameters": {
            "type": "object",
            "properties": {"task_id": {"type": "string"}},
            "required": ["task_id"],
        },
    },
    "list_dev_tasks": {
        "description": "The Work Runs of this project, optionally in one state.",
        "parameters": {"type": "object", "properties": {"state": {"type": "string"}}},
    },
    "remember": {
        "description": "Keep a note in this agent's memory.",
        "parameters": {
            "type": "object",
            "properties": {"note": {"type": "string"}},
            "required": ["note"],
        },
    },
}


class ToolArgumentsError(ValueError):
    """The model's arguments do not fit the tool (answered back to the model, not raised)."""


def definitions(names: list[str]) -> list[dict[str, Any]]:
    """OpenAI `tools` for the enabled names."""
    return [
        {"type": "function", "function": {"name": n, **TOOL_SCHEMAS[n]}}
        for n in names
        if n in TOOL_SCHEMAS
    ]


def parse_arguments(raw: Any) -> dict[str, Any]:
    """Arguments as a dict (the wire carries a JSON string); bad JSON becomes {'_raw': ...}."""
    if isinstance(raw, dict):
        return raw
    try:
        doc = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {"_raw": str(raw)}
    return doc if isinstance(doc, dict) else {"_raw": doc}


def _text(args: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = args.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise ToolArgumentsError(f"{name} must be a non-empty string")
    return value


async def call_side_effecting(
    host: AgentHost, tool: str, args: dict[str, Any], idempotency_key: str
) -> dict[str, Any]:
    """Run one of the gateway-backed tools (not `remember`, which only records)."""
    if tool == "create_dev_task":
        paths = args.get("target_paths") or []
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise ToolArgumentsError("target_paths must be a list of strings")
        return await host.create_dev_task(
            AgentDevTaskCreate(
                instructions=_text(args, "instructions") or "",
                backend=_text(args, "backend", required=False),
                target_paths=paths,
                idempotency_key=idempotency_key,
            )
        )
    if tool == "get_dev_task":
        return await host.get_dev_task(_text(args, "task_id") or "")
    if tool == "list_dev_tasks":
        return {"items": await host.list_dev_tasks(_text(args, "state", required=False))}
    raise ToolArgumentsError(f"unknown tool {tool!r}")
