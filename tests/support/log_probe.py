"""Run a service's real startup path in a child process, then log secrets through it.

`probe_logs(create_app, env, secrets)` builds the app the way granian does
(`create_app()` reading the environment), so the logging it installs is the
production one, then writes the given secrets through our own logger, a
foreign library's logger, %-arguments, structured fields and a traceback,
and returns the child's stdout lines: what an operator's log collector gets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

_SCRIPT = """
import logging, sys
import structlog
from {module} import create_app
create_app()
secrets = sys.argv[1:]
for value in secrets:
    logging.getLogger("{logger}").warning("leaked %s in an argument", value)
    logging.getLogger("asyncpg").error("connect failed: postgresql://hive:" + value + "@db/hive")
    structlog.get_logger("{logger}").info("event", token=value, nested={{"k": [value]}})
    try:
        raise RuntimeError("boom " + value)
    except RuntimeError:
        logging.getLogger("{logger}").exception("with a traceback")
"""


def probe_logs(
    module: str, logger: str, env: Mapping[str, str], secrets: Sequence[str]
) -> list[dict[str, object]]:
    """The JSON lines the service wrote to stdout (every line must be one)."""
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(module=module, logger=logger), *secrets],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for value in secrets:
        assert value not in done.stdout, f"a secret reached the log: {done.stdout[:2000]}"
        assert value not in done.stderr, f"a secret reached stderr: {done.stderr[:2000]}"
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert all(isinstance(line, dict) for line in lines)
    return lines
