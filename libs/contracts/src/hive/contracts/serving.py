"""`hive.<service>.main:app`, built on first access: what granian imports.

Each service's `main` module ends with `__getattr__ = served_app(create_app)`.
Importing the module (tests, tooling, the CLI) therefore never reads the
environment or exits on a bad setting; only the first access of `app` does,
and every later access answers the same application.
"""

from __future__ import annotations

from collections.abc import Callable

from litestar import Litestar


def served_app(create_app: Callable[[], Litestar]) -> Callable[[str], Litestar]:
    """A module `__getattr__` that answers `app`, built once by `create_app`."""
    built: list[Litestar] = []

    def module_getattr(name: str) -> Litestar:
        if name != "app":
            raise AttributeError(name)
        if not built:
            built.append(create_app())
        return built[0]

    return module_getattr
