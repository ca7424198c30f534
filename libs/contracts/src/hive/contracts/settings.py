"""Settings from the environment: one set of rules for every service.

Every service (gateway, agent pools, sandbox, agent runtime) reads its settings
once at startup through an `Environment`, so a variable means the same thing
wherever it is read:

- unset or blank (whitespace only) is the default; a value that is present is
  validated and used, never silently replaced by the default (`0` is `0`, and
  refused where it makes no sense);
- flags are `1/true/yes/on` or `0/false/no/off` (any case); anything else is refused;
- numbers are converted by `msgspec.convert` with the setting's bounds; integers
  take no fraction; NaN and infinities are refused;
- lists are comma-separated, items stripped, empty items dropped; a list that is set
  is used even when empty (no egress port, no registry is a real setting), only an
  unset one is the default;
- choices are compared stripped and lower-cased;
- every refusal is a `SettingsError` naming the variable, for a one-line startup error.

Cross-setting rules (one TTL not above another, a secret's strength) stay with the
service that owns them; they raise the same `SettingsError`.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, NoReturn, TypeVar

import msgspec

T = TypeVar("T")
Choice = TypeVar("Choice", bound=str)

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})


class SettingsError(ValueError):
    """A setting is missing or invalid; `setting` names the environment variable."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting} {problem}")
        self.setting = setting


EXIT_REFUSED = 3
"""A service's exit status when it refuses to start (a bad setting, no database)."""


def refuse_to_start(service: str, reason: object) -> NoReturn:
    """One line on stderr naming the service and why, then exit `EXIT_REFUSED`.

    Printed, not logged: it runs before logging is configured, and `reason` names a
    variable, never its value.
    """
    print(f"hive {service}: refusing to start: {reason}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_REFUSED)


def _bounds(minimum: float | None, above: float | None, maximum: float | None) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"at least {minimum:g}")
    if above is not None:
        parts.append(f"above {above:g}")
    if maximum is not None:
        parts.append(f"at most {maximum:g}")
    return " and ".join(parts)


def _meta(minimum: float | None, above: float | None, maximum: float | None) -> msgspec.Meta:
    bounds: dict[str, Any] = {"ge": minimum, "gt": above, "le": maximum}
    return msgspec.Meta(**{k: v for k, v in bounds.items() if v is not None})


class Environment:
    """Typed reads of environment strings under the rules above.

    `env` defaults to `os.environ`; tests and `hive dev` pass a mapping. Every
    read goes through `Mapping.get`, so a mapping that records its lookups sees
    each variable a loader reads (see `hive.sandbox.settings.environment_names`).
    """

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env: Mapping[str, str] = os.environ if env is None else env

    @property
    def mapping(self) -> Mapping[str, str]:
        """The underlying variables (for a parser that needs several at once)."""
        return self._env

    def raw(self, name: str) -> str | None:
        """The stripped value, or None when unset or blank."""
        value = self._env.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        """A string setting."""
        return self.raw(name) or default

    def optional_text(self, name: str) -> str | None:
        """A string setting without a default."""
        return self.raw(name)

    def flag(self, name: str, default: bool) -> bool:
        """A true/false setting."""
        raw = self.raw(name)
        if raw is None:
            return default
        folded = raw.lower()
        if folded in TRUE:
            return True
        if folded in FALSE:
            return False
        raise SettingsError(name, f"must be true or false, got {raw!r}")

    def number(
        self,
        name: str,
        default: float,
        *,
        minimum: float | None = None,
        above: float | None = None,
        maximum: float | None = None,
    ) -> float:
        """A finite decimal number (seconds, rates) within the given bounds."""
        value = self.optional_number(name, minimum=minimum, above=above, maximum=maximum)
        return default if value is None else value

    def optional_number(
        self,
        name: str,
        *,
        minimum: float | None = None,
        above: float | None = None,
        maximum: float | None = None,
    ) -> float | None:
        """A number setting without a default (None when unset)."""
        meta = _meta(minimum, above, maximum)
        value = self._convert(name, Annotated[float, meta], "a number", minimum, above, maximum)
        if value is not None and not math.isfinite(value):
            raise SettingsError(name, f"must be a finite number, got {self.raw(name)!r}")
        return None if value is None else float(value)

    def integer(
        self,
        name: str,
        default: int,
        *,
        minimum: int | None = None,
        above: int | None = None,
        maximum: int | None = None,
    ) -> int:
        """A whole number (bytes, counts, seconds of a TTL) within the given bounds."""
        value = self.optional_integer(name, minimum=minimum, above=above, maximum=maximum)
        return default if value is None else value

    def optional_integer(
        self,
        name: str,
        *,
        minimum: int | None = None,
        above: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        """A whole-number setting without a default (None when unset)."""
        meta = _meta(minimum, above, maximum)
        value = self._convert(name, Annotated[int, meta], "a whole number", minimum, above, maximum)
        return None if value is None else int(value)

    def csv(self, name: str, default: str | Sequence[str] = ()) -> list[str]:
        """A comma-separated list (the default given as the same string, or as items)."""
        raw = self._env.get(name)
        if raw is None:
            return list(default) if not isinstance(default, str) else split_csv(default)
        return split_csv(raw)

    def choice(self, name: str, options: tuple[Choice, ...], default: Choice) -> Choice:
        """One of `options` (compared lower-cased)."""
        raw = self.raw(name)
        if raw is None:
            return default
        folded = raw.lower()
        for option in options:
            if folded == option:
                return option
        listed = ", ".join(options[:-1]) + f" or {options[-1]}" if len(options) > 1 else options[0]
        raise SettingsError(name, f"must be {listed}, got {raw!r}")

    def json(self, name: str, type: type[T]) -> T | None:
        """A JSON document decoded into `type` (None when unset)."""
        raw = self.raw(name)
        if raw is None:
            return None
        try:
            return msgspec.json.decode(raw, type=type)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise SettingsError(name, f"is invalid: {exc}") from exc

    def _convert(
        self,
        name: str,
        type: Any,
        kind: str,
        minimum: float | None,
        above: float | None,
        maximum: float | None,
    ) -> Any:
        raw = self.raw(name)
        if raw is None:
            return None
        try:
            # Lax mode turns the string into the number; Meta holds the bounds.
            return msgspec.convert(raw, type, strict=False)
        except msgspec.ValidationError:
            bounds = _bounds(minimum, above, maximum)
            wanted = f"{kind} {bounds}" if bounds else kind
            raise SettingsError(name, f"must be {wanted}, got {raw!r}") from None


def split_csv(value: str) -> list[str]:
    """`a, b,,c` -> ["a", "b", "c"]."""
    return [v.strip() for v in value.split(",") if v.strip()]
