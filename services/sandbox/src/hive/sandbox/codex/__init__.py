"""The Codex CLI (`codex exec`) as the sandbox's canonical coding backend.

`install` finds the pinned CLI and reports its version, `settings` reads the
HIVE_SANDBOX_CODEX_* variables, `invocation` builds argv, env and config.toml
(pure functions), `events` maps the `--json` stream to checkpoints, and
`process` runs and stops the CLI. The backend itself is
`hive.sandbox.backends.codex_cli`.
"""
