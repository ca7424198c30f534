"""`served_app`: a service's `main:app` is built on first access, once."""

from __future__ import annotations

import pytest
from litestar import Litestar

from hive.contracts.serving import served_app


def test_app_is_built_on_first_access_and_only_once() -> None:
    built: list[Litestar] = []

    def create_app() -> Litestar:
        built.append(Litestar(route_handlers=[]))
        return built[-1]

    module_getattr = served_app(create_app)
    assert built == []
    first = module_getattr("app")
    assert module_getattr("app") is first
    assert built == [first]


def test_other_names_are_attribute_errors() -> None:
    module_getattr = served_app(lambda: Litestar(route_handlers=[]))
    with pytest.raises(AttributeError):
        module_getattr("application")
