"""The sandbox's name for the one env scrubber, which lives in `hive.contracts.child_environment`
(the gateway's agent pools build their children's environment with it too)."""

from hive.contracts.child_environment import (
    DEFAULT_LANG,
    DEFAULT_PATH,
    SECRET_NAME_PATTERNS,
    SecretEnvRefused,
    base_path,
    child_env,
    is_secret_name,
)

__all__ = [
    "DEFAULT_LANG",
    "DEFAULT_PATH",
    "SECRET_NAME_PATTERNS",
    "SecretEnvRefused",
    "base_path",
    "child_env",
    "is_secret_name",
]
