"""The stimulation options, declared once.

:class:`StimParams` holds every recentring and artifact-removal option that
:func:`~spikelab_stim.recenter_stim_times`, :func:`~spikelab_stim.remove_stim_artifacts`,
:func:`~spikelab_stim.preprocess_stim_artifacts` and :func:`~spikelab_stim.sort_stim_recording`
take, with one spelling, one default and one check each. Each function accepts the options it
uses as keywords (or a ready :class:`StimParams` as ``params``); a value a knob rejects raises a
``ValueError`` naming the option and the accepted range.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from spikelab.errors import UnknownParameterError
from spikelab.plugin import (
    KnobValueError,
    did_you_mean,
    in_range,
    knob,
    knobs,
    non_negative,
    one_of,
    positive,
)

__all__ = ["RECENTER_OPTIONS", "REMOVAL_OPTIONS", "StimParams", "stim_params"]

PEAK_MODES = ("abs_max", "pos_peak", "neg_peak", "down_edge", "up_edge")
MULTI_PEAK_SELECTS = ("first", "last")
METHODS = ("polynomial", "blank")
BLANK_FILLS = ("baseline", "zero")

#: Spellings the stim functions used before the options were declared once.
RENAMED = {"artifact_method": "method", "max_stim_offset_ms": "max_offset_ms"}


def _at_least_two(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value < 2:
        raise KnobValueError(f"{attribute.name} must be an integer >= 2, got {value!r}.", attribute.name)


def _recentring(default: Any, doc: str, **kwargs: Any) -> Any:
    return knob(default, doc, metadata={"stage": "recenter"}, **kwargs)


def _removal(default: Any, doc: str, **kwargs: Any) -> Any:
    return knob(default, doc, metadata={"stage": "remove"}, **kwargs)


@knobs
class StimParams:
    """Recentring and artifact-removal options of the stimulation functions."""

    # recentring (recenter_stim_times)
    recenter: bool = _recentring(True, "Recenter the logged stim times on the artifacts before removal.")
    max_offset_ms: float = _recentring(
        50.0, "Half-width of the search window around each logged stim time.", unit="ms", validator=non_negative
    )
    peak_mode: str = _recentring(
        "abs_max", "Artifact feature that defines the event time.", validator=one_of(*PEAK_MODES)
    )
    n_reference_channels: int = _recentring(
        8, "Channels with the largest artifact summed into the reference trace.", validator=positive
    )
    prewindow_ms: float = _recentring(
        5.0, "For the edge modes, how far before the second phase to look for the first.", unit="ms",
        validator=non_negative,
    )
    warn_offset_ms: float | None = _recentring(
        3.0, "Events moved by more than this are logged and reported (None: off).", unit="ms",
        validator=non_negative,
    )
    multi_peak: bool = _recentring(False, "Lock onto one of several pulses in the window, not the strongest.")
    multi_peak_select: str = _recentring(
        "first", "Which qualifying pulse multi_peak locks onto.", validator=one_of(*MULTI_PEAK_SELECTS)
    )
    multi_peak_threshold: float = _recentring(
        0.6, "Fraction of the strongest peak a pulse must reach.", validator=in_range(0, 1, low_open=True)
    )
    multi_peak_min_separation_ms: float = _recentring(
        2.0, "Minimum spacing between candidate pulses.", unit="ms", validator=non_negative
    )
    # removal (remove_stim_artifacts)
    method: str = _removal(
        "polynomial", "Subtract a fitted tail ('polynomial') or blank the window ('blank').",
        validator=one_of(*METHODS),
    )
    artifact_window_ms: float = _removal(
        10.0, "Maximum duration of the artifact tail after desaturation.", unit="ms", validator=positive
    )
    poly_order: int = _removal(3, "Order of the local polynomial fits.", validator=in_range(0, 6))
    saturation_threshold: float | None = _removal(
        None, "Absolute raw values at or above this also count as saturated (None: flat runs only).",
        validator=positive,
    )
    baseline_threshold: float | None = _removal(
        None, "Blanking ends when the fit residual stays within this (None: 4 noise SDs).", validator=positive
    )
    pre_blank_ms: float = _removal(
        0.5, "Blanking starts this long before each stim time.", unit="ms", validator=non_negative
    )
    min_blank_ms: float = _removal(
        1.0, "Blanking lasts at least this long after each stim time.", unit="ms", validator=non_negative
    )
    fit_half_width_ms: float = _removal(
        2.0, "Half-width of the local fitting window.", unit="ms", validator=positive
    )
    min_flat_samples: int = _removal(3, "Minimum flat run counted as saturation.", validator=_at_least_two)
    blank_fill: str = _removal(
        "baseline", "Blanked samples take the pre-stimulus baseline or exactly zero.",
        validator=one_of(*BLANK_FILLS),
    )

    def removal_options(self) -> dict[str, Any]:
        """The artifact-removal options, by name.

        Returns
        -------
        dict
            ``{name: value}`` for each option of :func:`remove_stim_artifacts`.
        """
        return {name: getattr(self, name) for name in REMOVAL_OPTIONS}


def _stage(stage: str) -> tuple[str, ...]:
    return tuple(f.name for f in attrs.fields(StimParams) if f.metadata.get("stage") == stage)


RECENTER_OPTIONS: tuple[str, ...] = _stage("recenter")
REMOVAL_OPTIONS: tuple[str, ...] = _stage("remove")


def stim_params(
    function: str,
    options: Mapping[str, Any],
    *,
    params: StimParams | None = None,
    allowed: Iterable[str] = RECENTER_OPTIONS + REMOVAL_OPTIONS,
) -> StimParams:
    """Build the :class:`StimParams` a stim function was called with.

    Parameters
    ----------
    function : str
        The public function's name, for messages.
    options : mapping
        The keyword options the caller gave.
    params : StimParams or None, default: None
        Options declared beforehand; ``options`` override them.
    allowed : iterable of str
        The option names ``function`` uses.

    Returns
    -------
    StimParams
        The options, each checked.

    Raises
    ------
    UnknownParameterError
        For a name ``function`` does not take (a ``TypeError``), listing close matches.
    ConfigError
        For a bad value (a ``ValueError``), naming the option and what it accepts.
    """
    allowed = tuple(allowed)
    given: dict[str, Any] = {}
    for name, value in options.items():
        if name in RENAMED:
            new = RENAMED[name]
            if new in options:
                raise TypeError(f"{function}() got both `{name}` and `{new}`; pass only `{new}`.")
            warnings.warn(
                f"{function}(): `{name}` is deprecated, use `{new}` (the one spelling in every stim function).",
                DeprecationWarning, stacklevel=3,
            )
            name = new
        if name not in allowed:
            raise UnknownParameterError(
                f"{function}() got unknown option {name!r}.{did_you_mean(name, allowed)} "
                f"Its options: {', '.join(allowed)}."
            )
        given[name] = value
    base = params if params is not None else StimParams()
    if not isinstance(base, StimParams):
        raise TypeError(f"{function}(): `params` must be a StimParams, got {type(base).__name__}.")
    return attrs.evolve(base, **given)
