"""Knobs as declared data: type, default, unit, a one-line meaning, and the one strict converter.

Every configuration class (the pipeline's sub-configs and each backend's parameters) is an
``@knobs`` class: a frozen attrs class whose fields each pass :func:`convert` for their annotated
type. Keywords, ``override``, JSON, the CLI's ``--set`` and presets therefore meet the same
check, with the same message (``n_jobs: expected an integer, got 'many'``).
"""

from __future__ import annotations

import copy
import math
import numbers
import os
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from spikelab.errors import ConfigError, did_you_mean

__all__ = ["KnobValueError", "convert", "did_you_mean", "knob", "knob_rows", "knobs"]


_T = typing.TypeVar("_T")


class KnobValueError(ConfigError):
    """A value a knob rejects; ``field`` is the knob's name (the message names it too)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def knob(
    default: Any = attrs.NOTHING,
    doc: str = "",
    *,
    unit: str | None = None,
    validator: Callable[[Any, attrs.Attribute, Any], None] | None = None,
    factory: Callable[[], Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Any:
    """An attrs field carrying its meaning (``doc``) and ``unit`` for the docs and the CLI.

    Parameters
    ----------
    default : object
        The default value; a list or dict default is copied for each instance.
    doc : str
        One line saying what the knob means.
    unit : str, optional
        Its unit (``"ms"``, ``"Hz"``, ``"samples"``).
    validator : callable, optional
        ``validator(instance, attribute, value)``, raising :class:`KnobValueError`.
    factory : callable, optional
        Makes the default instead of ``default``.
    metadata : dict, optional
        More metadata for the field (a backend's own grouping, for example).

    Returns
    -------
    attrs.Attribute
        The field definition, for a :func:`knobs` class body.
    """
    if isinstance(default, (list, dict)) and factory is None:
        factory = lambda value=default: copy.deepcopy(value)  # noqa: E731
    kwargs: dict[str, Any] = {"metadata": {**(metadata or {}), "doc": doc, "unit": unit}}
    if factory is not None:
        kwargs["factory"] = factory
    else:
        kwargs["default"] = default
    if validator is not None:
        kwargs["validator"] = validator
    return attrs.field(**kwargs)


# -- the converter -----------------------------------------------------------------------------
def _describe(annotation: Any) -> str:
    if annotation is Any:
        return "any value"
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        parts = [_describe(a) for a in typing.get_args(annotation) if a is not type(None)]
        optional = type(None) in typing.get_args(annotation)
        return " or ".join(parts) + (" or None" if optional else "")
    if origin in (list, tuple):
        args = typing.get_args(annotation)
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s" if args else "a list"
    if origin is dict or annotation is dict:
        return "a mapping"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )


def convert(value: Any, annotation: Any, name: str) -> Any:
    """``value`` as ``annotation`` says, or :class:`KnobValueError` naming ``name``.

    Strict: ``"8"`` is not an integer, ``"no"`` is not a boolean, ``0.5`` is not an integer.
    numpy scalars become Python ones; a path becomes a string; a number given for a float is a
    float.

    Parameters
    ----------
    value : object
        What the user gave.
    annotation : type
        The knob's annotated type (``int``, ``float | None``, ``list[float]``, ...).
    name : str
        The knob's name, for the message.

    Returns
    -------
    object
        The converted value.

    Raises
    ------
    KnobValueError
        Naming the knob, what it accepts and what it got.
    """
    converted = _convert(value, annotation)
    if converted is _BAD:
        raise KnobValueError(f"{name}: expected {_describe(annotation)}, got {value!r}.", field=name)
    return converted


_BAD = object()


def _convert(value: Any, annotation: Any) -> Any:
    if annotation is Any:
        return value
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None:
            return None if type(None) in args else _BAD
        for arg in args:
            if arg is type(None):
                continue
            converted = _convert(value, arg)
            if converted is not _BAD:
                return converted
        return _BAD
    if annotation is bool:
        return bool(value) if isinstance(value, (bool, _numpy_bool())) else _BAD
    if annotation is int:
        if isinstance(value, (bool, _numpy_bool())) or not isinstance(value, numbers.Integral):
            return _BAD
        return int(value)
    if annotation is float:
        if isinstance(value, (bool, _numpy_bool())) or not isinstance(value, numbers.Real):
            return _BAD
        return float(value)
    if annotation is str:
        if isinstance(value, str):
            return value
        return os.fspath(value) if isinstance(value, os.PathLike) else _BAD
    if origin in (list, tuple):
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            return _BAD
        (item,) = typing.get_args(annotation)[:1] or (Any,)
        items = [_convert(v, item) for v in value]
        return _BAD if any(v is _BAD for v in items) else items
    if origin is dict or annotation is dict:
        return dict(value) if isinstance(value, Mapping) else _BAD
    return value if isinstance(value, annotation) else _BAD


def _numpy_bool() -> type:
    try:
        import numpy

        return numpy.bool_
    except ImportError:  # pragma: no cover - numpy is a core dependency
        return bool


def _strict_fields(cls: type, fields: list[attrs.Attribute]) -> list[attrs.Attribute]:
    hints = typing.get_type_hints(cls)
    out = []
    for field in fields:
        annotation = hints.get(field.name, Any)
        if field.converter is None:

            def check(value: Any, _annotation: Any = annotation, _name: str = field.name) -> Any:
                return convert(value, _annotation, _name)

            field = field.evolve(converter=check)
        out.append(field.evolve(metadata={**field.metadata, "type": annotation}))
    return out


def knobs(declared: type[_T]) -> type[_T]:
    """Make ``declared`` a frozen, keyword-only attrs class whose every field is strictly converted.

    The class docstring gains a numpydoc ``Parameters`` section written from the fields (type,
    default, unit, doc), so the API docs and ``spikelab plugins --params`` say the same.

    Parameters
    ----------
    declared : type
        A class whose annotated attributes are :func:`knob` fields.

    Returns
    -------
    type
        The attrs class.
    """
    built = attrs.frozen(kw_only=True, field_transformer=_strict_fields)(declared)
    # an indented docstring's own section counts too (a second one breaks numpydoc and the docs build)
    if built.__doc__ is not None and not re.search(r"^\s*Parameters\s*\n\s*-{3,}", built.__doc__, re.M):
        built.__doc__ = built.__doc__.rstrip() + "\n\n" + parameters_section(built)
    return built


def describe_type(annotation: Any) -> str:
    """A short name for an annotation (``int``, ``float or None``, ``list of float``)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("None" if a is type(None) else describe_type(a) for a in typing.get_args(annotation))
    if origin in (list, tuple):
        args = typing.get_args(annotation)
        return f"list of {describe_type(args[0])}" if args else "list"
    if origin is dict:
        return "dict"
    return "any" if annotation is Any else getattr(annotation, "__name__", str(annotation))


def knob_rows(declared: type) -> list[dict[str, Any]]:
    """One row per field of a knobs class.

    Parameters
    ----------
    declared : type
        A :func:`knobs` class.

    Returns
    -------
    list of dict
        ``{"name", "type", "default", "unit", "doc"}`` per field, in declaration order.
    """
    rows = []
    for field in attrs.fields(declared):
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        rows.append({
            "name": field.name,
            "type": describe_type(field.metadata.get("type", Any)),
            "default": default,
            "unit": field.metadata.get("unit"),
            "doc": field.metadata.get("doc", ""),
        })
    return rows


def parameters_section(cls: type) -> str:
    """A numpydoc ``Parameters`` section for a knobs class."""
    lines = ["Parameters", "----------"]
    for row in knob_rows(cls):
        unit = f" ({row['unit']})" if row["unit"] else ""
        lines.append(f"{row['name']} : {row['type']}, default: {row['default']!r}")
        lines.append(f"    {row['doc'] or 'Undocumented.'}{unit}")
    return "\n".join(lines)


# -- validators (each names the knob) -------------------------------------------------------------
def _finite(attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, (int, float)) and not math.isfinite(value):
        raise KnobValueError(f"{attribute.name} must be a finite number, got {value!r}.", attribute.name)


def non_negative(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """Reject negative (and NaN/inf) numbers, naming the knob."""
    if value is None:
        return
    _finite(attribute, value)
    if value < 0:
        raise KnobValueError(f"{attribute.name} must be >= 0, got {value!r}.", attribute.name)


def positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """Reject zero, negative, NaN and inf, naming the knob."""
    if value is None:
        return
    _finite(attribute, value)
    if value <= 0:
        raise KnobValueError(f"{attribute.name} must be > 0, got {value!r}.", attribute.name)


def in_range(low: float, high: float, *, low_open: bool = False) -> Callable[[Any, attrs.Attribute, Any], None]:
    """Accept numbers in ``[low, high]`` (``(low, high]`` with ``low_open``)."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value is None:
            return
        _finite(attribute, value)
        below = value <= low if low_open else value < low
        if below or value > high:
            bracket = "(" if low_open else "["
            raise KnobValueError(
                f"{attribute.name} must be in {bracket}{low:g}, {high:g}], got {value!r}.", attribute.name
            )

    return check


def percentage(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """A percentage in (0, 100]."""
    if value is None:
        return
    _finite(attribute, value)
    if not 0 < value <= 100:
        raise KnobValueError(
            f"{attribute.name} is a percentage and must be in (0, 100], got {value!r}.", attribute.name
        )


def fraction_open(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """A factor in (0, 1)."""
    if value is None:
        return
    _finite(attribute, value)
    if not 0 < value < 1:
        raise KnobValueError(f"{attribute.name} must be in (0, 1), got {value!r}.", attribute.name)


def one_of(*choices: Any) -> Callable[[Any, attrs.Attribute, Any], None]:
    """Accept only the listed values."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value not in choices:
            raise KnobValueError(
                f"{attribute.name} must be one of {list(choices)}, got {value!r}.", attribute.name
            )

    return check


def not_empty(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """Reject an empty or blank string."""
    if isinstance(value, str) and not value.strip():
        raise KnobValueError(f"{attribute.name} must not be empty.", attribute.name)
