"""Helpers to declare configuration knobs as data: default, validation and a one-line meaning."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs


def knob(default: Any = attrs.NOTHING, doc: str = "", *, validator=None, factory=None, converter=None):
    """An attrs field whose ``metadata["doc"]`` says what it means (used by the docs and CLI)."""
    kwargs: dict[str, Any] = {"metadata": {"doc": doc}}
    if factory is not None:
        kwargs["factory"] = factory
    else:
        kwargs["default"] = default
    if validator is not None:
        kwargs["validator"] = validator
    if converter is not None:
        kwargs["converter"] = converter
    return attrs.field(**kwargs)


def _finite(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, (int, float)) and not math.isfinite(value):
        raise ValueError(f"{attribute.name} must be a finite number, got {value!r}.")


def non_negative(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """Reject negative (and NaN/inf) numbers, naming the knob."""
    if value is None:
        return
    _finite(instance, attribute, value)
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}.")


def positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """Reject zero, negative, NaN and inf, naming the knob."""
    if value is None:
        return
    _finite(instance, attribute, value)
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}.")


def percentage(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """A percentage in (0, 100]."""
    if value is None:
        return
    _finite(instance, attribute, value)
    if not 0 < value <= 100:
        raise ValueError(f"{attribute.name} is a percentage and must be in (0, 100], got {value!r}.")


def fraction_open(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """A factor in (0, 1)."""
    if value is None:
        return
    _finite(instance, attribute, value)
    if not 0 < value < 1:
        raise ValueError(f"{attribute.name} must be in (0, 1), got {value!r}.")


def one_of(*choices: Any) -> Callable[[Any, attrs.Attribute, Any], None]:
    """Accept only the listed values."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value not in choices:
            raise ValueError(f"{attribute.name} must be one of {list(choices)}, got {value!r}.")

    return check


def frozen_dict(value: Any) -> dict:
    """Copy a mapping so a config never shares a mutable dict with its caller."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        value = dict(value)
    return dict(value)
