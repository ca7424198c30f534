"""Structured JSON logs on stdout, with every configured secret redacted (every service).

structlog and the standard library share one handler, so a line from
Litestar, aiohttp or asyncpg passes the same `Redactor` as our own. The
redactor replaces every registered secret value (a service's own secrets,
vendor keys, the database password, the gateway's stored credentials once
decrypted) and the signature part of any task token, in every field of the
event and once more in the rendered line.

The gateway, the sandbox and the agent runtime each call `configure_logging`
once at startup with the secret values their settings hold.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import structlog

REDACTED = "[REDACTED]"
MIN_REDACTED_LENGTH = 6  # shorter values would mangle ordinary words in the logs
_TASK_TOKEN = re.compile(r"hvt\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


class Redactor:
    """A structlog processor (and plain function) that removes secret values."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self.add(*values)

    def add(self, *values: str) -> None:
        """Register more secret values (e.g. a credential just decrypted)."""
        fresh = {v for v in values if v and len(v) >= MIN_REDACTED_LENGTH} - self._values
        if not fresh:
            return
        with self._lock:
            self._values |= fresh
            # Longest first, so a secret containing another is removed whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def redact(self, text: str) -> str:
        """`text` with every secret value and task-token signature replaced."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        return _TASK_TOKEN.sub("hvt." + REDACTED, text)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, bytes):
            return self.redact(value.decode("utf-8", errors="replace"))
        if isinstance(value, dict):
            return {k: self._walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set):
            return [self._walk(v) for v in value]
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self.redact(str(value))

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """The structlog processor form."""
        for key, value in list(event_dict.items()):
            if key.startswith("_"):  # structlog's own metadata (the LogRecord)
                continue
            event_dict[key] = self._walk(value)
        return event_dict


class _RedactedJSON:
    """JSON renderer whose output passes the redactor once more."""

    def __init__(self, redactor: Redactor) -> None:
        self._render = structlog.processors.JSONRenderer()
        self._redactor = redactor

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> str:
        return self._redactor.redact(str(self._render(logger, method, event_dict)))


def secret_values(*values: str | None) -> list[str]:
    """The given secrets; of a URL (DATABASE_URL) only its password, if it has one."""
    out: list[str] = []
    for value in values:
        if value and "://" in value:
            value = urlsplit(value).password
        if value:
            out.append(value)
    return out


def configure_logging(redactor: Redactor, level: str = "INFO") -> None:
    """Route structlog and stdlib logging to one JSON handler on stdout."""
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    shared: list[Any] = [structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, timestamper],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redactor,
            _RedactedJSON(redactor),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_hive_logs", False):
            root.removeHandler(old)
    handler._hive_logs = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *shared,
            timestamper,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
