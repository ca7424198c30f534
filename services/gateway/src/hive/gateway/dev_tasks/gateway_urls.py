"""Sandbox answers rewritten so they carry only gateway URLs.

The facade passes the sandbox's bytes through, but two things in them are
sandbox paths that 404 on the gateway: a command's `retrieval` log URLs
(`/commands/{id}/log?stream=...`) and a problem's `instance` (`/dev-tasks/...`).
Both are rewritten to the gateway route the caller used or can use; nothing
else in the body changes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec

from hive.contracts.errors import PROBLEM_CONTENT_TYPE

_encoder = msgspec.json.Encoder()


def command_log_url(project_id: str, task_id: str, command_id: str, stream: str) -> str:
    """The gateway route of a command's full log."""
    return (
        f"/api/projects/{quote(project_id, safe='')}/dev-tasks/{quote(task_id, safe='')}"
        f"/commands/{quote(command_id, safe='')}/log?stream={stream}"
    )


def _with_retrieval(doc: Any, project_id: str, task_id: str) -> Any:
    if (
        isinstance(doc, dict)
        and isinstance(doc.get("command_id"), str)
        and isinstance(doc.get("retrieval"), dict)
    ):
        cid = doc["command_id"]
        doc["retrieval"] = {
            s: command_log_url(project_id, task_id, cid, s) for s in ("stdout", "stderr")
        }
    return doc


def rewrite_commands(body: bytes, project_id: str, task_id: str) -> bytes:
    """A CommandStatus, or a list (or `{items: [...]}`) of them, with gateway log URLs."""
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body
    if isinstance(doc, list):
        doc = [_with_retrieval(d, project_id, task_id) for d in doc]
    elif isinstance(doc, dict) and isinstance(doc.get("items"), list):
        doc["items"] = [_with_retrieval(d, project_id, task_id) for d in doc["items"]]
    else:
        doc = _with_retrieval(doc, project_id, task_id)
    return _encoder.encode(doc)


def is_problem(content_type: str) -> bool:
    """True for an application/problem+json answer."""
    return content_type.split(";", 1)[0].strip().lower() == PROBLEM_CONTENT_TYPE


def rewrite_problem(body: bytes, instance: str) -> bytes:
    """A problem+json body whose `instance` is the gateway path that was asked."""
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body
    if not isinstance(doc, dict):
        return body
    doc["instance"] = instance
    return _encoder.encode(doc)
