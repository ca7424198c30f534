"""The one env scrubber for every governed subprocess: sandbox children and agent runtimes.

A child's environment is *built*, never inherited: a minimal base (PATH, HOME
and TMPDIR inside the task scratch, LANG) plus only the extra variables a
caller names explicitly. The sandbox's own environment holds the internal
secret, the database URL and possibly provider keys; none of it reaches a child
by accident because nothing is copied from `os.environ` except PATH (and
LANG/TZ when set), which carry no credentials.

Secret-looking names (see `SECRET_NAME_PATTERNS`) are refused even when a
caller passes them in `allow`, unless they are also listed in `permit_secrets`:
that parameter exists for documented operator allowlists such as
`HIVE_SANDBOX_CODEX_ENV_ALLOWLIST` (the `env` auth mode of the codex backend)
and nothing else.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Final

DEFAULT_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_LANG: Final = "C.UTF-8"

# Names (upper-cased) that look like credentials or point at credentialed
# services. Deliberately broad: refusing a harmless name costs an explicit
# allowlist entry, passing a key leaks it to code the model wrote.
SECRET_NAME_PATTERNS: Final[tuple[re.Pattern[str], ...]] = tuple(
    re.compile(p)
    for p in (
        # generic credential words anywhere in the name
        r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|AUTH(?!OR)|COOKIE|SESSION|PRIVATE|SIGNING)",
        # database URLs and credentials
        r"(^|_)(DATABASE|DB)(_|$)",
        r"(^|_)DSN$",
        r"^(PG|POSTGRES|POSTGRESQL|MYSQL|MARIADB|MONGO|MONGODB|REDIS|AMQP|RABBITMQ|KAFKA|ELASTIC|ES)_?",
        r"_URL$",  # URLs may carry user:password@ (DATABASE_URL, REDIS_URL, PIP_INDEX_URL)
        # cloud and provider credentials
        r"^(AWS|AZURE|ARM|GCP|GOOGLE|GCLOUD|CLOUDSDK|ALIBABA|ALIYUN|DASHSCOPE|OPENAI|ANTHROPIC|CLAUDE|GEMINI|MISTRAL|GROQ|COHERE|DEEPSEEK|MOONSHOT|QWEN|TOGETHER|FIREWORKS|OPENROUTER|HF|HUGGINGFACE|REPLICATE|XAI|PERPLEXITY|VOYAGE)_",
        # source hosts and package registries
        r"^(GH|GITHUB|GITLAB|BITBUCKET|NPM|YARN|PYPI|TWINE|UV_INDEX|PIP_INDEX|PIP_EXTRA|CARGO_REGISTRY|DOCKER|KUBE|KUBECONFIG|HELM|VAULT|SSH)",
        # OpenHive's own secrets and app credentials
        r"^(HIVE_|DASHBOARD_)",
        r"^(SLACK|DISCORD|TELEGRAM|FEISHU|LARK|DINGTALK|WECHAT|WECOM|TWILIO|SENDGRID|STRIPE|SENTRY)_",
    )
)


class SecretEnvRefused(ValueError):
    """An allowlisted variable name looks like a credential and was not explicitly permitted."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"environment variable {name!r} looks like a credential; it passes to a "
            "governed subprocess only when a documented allowlist names it"
        )
        self.name = name


def is_secret_name(name: str) -> bool:
    """True when `name` looks like a credential, a database URL or an OpenHive secret."""
    if len(name) <= 256:  # every spawn asks about the same few names
        return _is_secret_name_cached(name)
    return _is_secret_name(name)


def _is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(p.search(upper) for p in SECRET_NAME_PATTERNS)


_is_secret_name_cached = functools.lru_cache(maxsize=1024)(_is_secret_name)


def base_path() -> str:
    """PATH for children: the parent's own PATH (it carries no credentials) or a default."""
    return os.environ.get("PATH") or DEFAULT_PATH


def child_env(
    *,
    home: Path,
    tmpdir: Path,
    allow: Mapping[str, str] | None = None,
    permit_secrets: Collection[str] = (),
) -> dict[str, str]:
    """The complete environment of a governed subprocess.

    `allow` adds variables by name and value; a secret-looking name among them
    raises SecretEnvRefused unless `permit_secrets` (a documented operator
    allowlist) names it too. Names and values must not contain NUL or `=`
    (in names).
    """
    env: dict[str, str] = {
        "PATH": base_path(),
        "HOME": str(home),
        "TMPDIR": str(tmpdir),
        "LANG": os.environ.get("LANG") or DEFAULT_LANG,
        "LC_ALL": DEFAULT_LANG,
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "NO_COLOR": "1",
        "TERM": "dumb",
    }
    if tz := os.environ.get("TZ"):
        env["TZ"] = tz
    permitted = {p.upper() for p in permit_secrets}
    for name, value in (allow or {}).items():
        if not name or "=" in name or "\0" in name or "\0" in value:
            raise ValueError(f"invalid environment variable name or value for {name!r}")
        if is_secret_name(name) and name.upper() not in permitted:
            raise SecretEnvRefused(name)
        env[name] = value
    return env
