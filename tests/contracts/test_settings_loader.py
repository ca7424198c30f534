"""hive.contracts.settings: the one set of rules every service reads its environment with."""

from __future__ import annotations

import pytest

from hive.contracts.settings import Environment, SettingsError


def test_unset_and_blank_are_the_default_a_present_value_is_used() -> None:
    e = Environment({"BLANK": "   ", "ZERO": "0", "SET": " 7 "})
    assert e.integer("UNSET", 4) == 4
    assert e.integer("BLANK", 4) == 4
    # 0 is 0: never quietly replaced by the default (it was, in one sandbox parser).
    assert e.integer("ZERO", 4) == 0
    assert e.integer("SET", 4) == 7
    assert e.optional_text("BLANK") is None


@pytest.mark.parametrize("raw", ["1", "true", "YES", "On"])
def test_true_flags(raw: str) -> None:
    assert Environment({"F": raw}).flag("F", False) is True


@pytest.mark.parametrize("raw", ["0", "false", "No", "OFF"])
def test_false_flags(raw: str) -> None:
    assert Environment({"F": raw}).flag("F", True) is False


@pytest.mark.parametrize(
    ("read", "raw", "said"),
    [
        (lambda e: e.flag("X", True), "maybe", "must be true or false, got 'maybe'"),
        (lambda e: e.integer("X", 1), "4.5", "must be a whole number, got '4.5'"),
        (lambda e: e.integer("X", 1, above=0), "0", "must be a whole number above 0, got '0'"),
        (lambda e: e.number("X", 1.0, minimum=1), "0.5", "must be a number at least 1"),
        (lambda e: e.number("X", 1.0, maximum=10), "60", "must be a number at most 10"),
        (lambda e: e.number("X", 1.0), "nan", "must be"),
        (lambda e: e.number("X", 1.0), "inf", "must be a finite number"),
        (lambda e: e.number("X", 1.0), "soon", "must be a number, got 'soon'"),
        (lambda e: e.choice("X", ("a", "b", "d"), "a"), "c", "must be a, b or d, got 'c'"),
        (lambda e: e.json("X", list[int]), "[1,", "is invalid"),
    ],
)
def test_a_refusal_names_the_variable_and_the_value(read, raw: str, said: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError) as info:
        read(Environment({"X": raw}))
    assert info.value.setting == "X"
    assert str(info.value).startswith("X ")
    assert said in str(info.value)


def test_numbers_lists_and_choices() -> None:
    e = Environment({"N": "1e3", "L": " a , b,,c ", "EMPTY": "", "C": " Upgrade "})
    assert e.integer("N", 0) == 1000
    assert e.number("N", 0.0) == 1000.0
    assert e.csv("L") == ["a", "b", "c"]
    # A list that is set is used even when empty (no egress port is a setting).
    assert e.csv("EMPTY", "x,y") == []
    assert e.csv("UNSET", "x,y") == ["x", "y"]
    assert e.choice("C", ("check", "upgrade"), "check") == "upgrade"
    assert e.json("UNSET", list[int]) is None
