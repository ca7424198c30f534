"""The log redactor: every registered secret and every task-token signature goes."""

from __future__ import annotations

import json

from hive.contracts.logs import REDACTED, Redactor, _RedactedJSON
from hive.contracts.tokens import issue

SECRET = "sk-live-0123456789abcdef"


def test_secret_values_are_replaced_everywhere_in_an_event() -> None:
    redactor = Redactor([SECRET, "short"])
    token, _ = issue("k" * 40, scopes=["relay:model"], ttl_s=60, task_id="t")
    event = {
        "event": f"calling upstream with {SECRET}",
        "headers": {"authorization": f"Bearer {SECRET}", "x": [f"a{SECRET}b", 3]},
        "token": f"Bearer {token}",
        "exception": f"Traceback ...\nValueError: bad key {SECRET!r}",
        "_record": object(),
        "count": 3,
    }
    out = redactor(None, "info", dict(event))
    rendered = json.dumps({k: v for k, v in out.items() if not k.startswith("_")})
    assert SECRET not in rendered and token not in rendered
    assert token.rsplit(".", 1)[1] not in rendered
    assert rendered.count(REDACTED) >= 5
    assert out["count"] == 3
    assert "short" in redactor.redact("short")  # too short to redact without mangling text


def test_values_registered_later_are_redacted_too() -> None:
    redactor = Redactor()
    later = "decrypted-credential-value-42"
    assert later in redactor.redact(f"x {later}")
    redactor.add(later)
    assert later not in redactor.redact(f"x {later}")


def test_the_rendered_line_is_checked_once_more() -> None:
    redactor = Redactor([SECRET])
    render = _RedactedJSON(redactor)
    # A key (not a value) carrying the secret still never reaches the output.
    line = render(None, "info", {"event": "x", SECRET: 1})
    assert SECRET not in line and REDACTED in line
