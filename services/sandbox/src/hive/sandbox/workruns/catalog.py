"""The coding backends a replica can run (built once per name, judged at startup)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hive.sandbox.backends import BackendUnavailable, CodingBackend, create_backend
from hive.sandbox.backends.readiness import BackendReadiness
from hive.sandbox.confinement import Confinement
from hive.sandbox.workruns.errors import InvalidRequest


class BackendCatalog:
    """The coding backends this replica can run, built once per name.

    `readiness` (decided at startup, see `hive.sandbox.backends.readiness`) lets
    a create naming a backend that cannot run here be refused with the fix; without
    it (tests that inject backends) every known backend is taken as usable.
    """

    def __init__(
        self,
        settings: Any,
        overrides: Mapping[str, CodingBackend] | None = None,
        confinement: Confinement | None = None,
        readiness: Mapping[str, BackendReadiness] | None = None,
    ) -> None:
        self.settings = settings
        self.confinement = confinement
        self._built: dict[str, CodingBackend | BackendUnavailable] = dict(overrides or {})
        self.readiness = dict(readiness or {})

    def check_request(self, name: str, instructions: str) -> None:
        """InvalidRequest when the backend cannot run here or could never run these instructions."""
        verdict = self.readiness.get(name)
        if verdict is not None and not verdict.usable:
            raise InvalidRequest(verdict.refusal())
        try:
            backend = self.get(name)
        except BackendUnavailable as exc:
            raise InvalidRequest(str(exc)) from exc
        check = getattr(backend, "check_instructions", None)
        if check is not None:
            try:
                check(instructions)
            except ValueError as exc:
                raise InvalidRequest(str(exc)) from exc

    def get(self, name: str) -> CodingBackend:
        """The backend, or BackendUnavailable naming why it cannot run."""
        found = self._built.get(name)
        if found is None:
            try:
                found = create_backend(name, self.settings, self.confinement)
            except BackendUnavailable as exc:
                found = exc
            self._built[name] = found
        if isinstance(found, BackendUnavailable):
            raise found
        return found

    def execution_class(self, name: str) -> str:
        """How the backend runs, or `unavailable`."""
        try:
            return self.get(name).execution_class
        except BackendUnavailable:
            return "unavailable"
