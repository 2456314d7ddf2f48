"""Plots of sorted units: the spatial footprint of each unit's template on the channel grid."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from spikelab.atomic import atomic_open
from spikelab.spikedata.errors import SpikeDataError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from spikelab.spikedata.spikedata import SpikeData

log = structlog.get_logger("spikelab.spikedata")


def plot_unit_footprints(
    channel_xy: Any,
    templates: Sequence[Any],
    primary_channels: Sequence[int],
    *,
    unit_labels: Sequence[Any] | None = None,
    min_amplitude_uv: float = 5.0,
    min_relative_amplitude: float = 0.1,
    waveform_box_um: float | None = None,
    waveform_color: str = "black",
    primary_color: str = "tab:red",
    waveform_lw: float = 0.8,
    bg_dot_color: str = "lightgray",
    bg_dot_size: float = 4.0,
    n_cols_grid: int | None = None,
    pad_um: float | None = None,
    waveform_scale_uv: float | None = None,
    show_amplitude_scale_bar: bool = True,
    show_axes: bool = True,
    fig: Figure | None = None,
    save_path: str | Path | None = None,
    show: bool = False,
) -> Figure:
    """Draw every unit's template at its channels' (x, y) positions, one subplot per unit.

    Channels whose template peak-to-peak amplitude is at least ``min_amplitude_uv`` are drawn
    (the primary channel always, in ``primary_color``), when they also reach
    ``min_relative_amplitude`` of the primary's; the other channels are grey dots.

    Parameters
    ----------
    channel_xy : array-like, (channels, 2)
        Channel positions in µm.
    templates : sequence of array-like (channels, samples) or None
        One template per unit in µV; None hides that unit's subplot.
    primary_channels : sequence of int
        Primary channel index of every unit.
    unit_labels : sequence | None, default: None
        Subplot titles ("Unit <label>"); default 0..n-1.
    min_amplitude_uv : float, default: 5.0
        Peak-to-peak threshold for drawing a channel's waveform.
    min_relative_amplitude : float, default: 0.1
        Also the fraction of the primary channel's peak-to-peak a channel needs, so a large
        unit's panel is not stretched by far channels holding only residual noise.
    waveform_box_um : float | None, default: None
        Width and height (µm) of each waveform; default 0.8 x the column pitch wide and 1.5 x
        the row pitch tall (waveforms of neighbouring rows may touch, as in Kilosort's and
        SpikeInterface's template plots).
    waveform_color, primary_color, waveform_lw, bg_dot_color, bg_dot_size
        Styling.
    n_cols_grid : int | None, default: None
        Subplot columns; default chosen from the footprints' shape, so tall footprints sit side
        by side in panels shaped like them.
    pad_um : float | None, default: None
        Margin around the drawn waveforms; default a quarter of the channel pitch.
    waveform_scale_uv : float | None, default: None
        µV spanning half a box; default each unit's largest absolute template value.
    show_amplitude_scale_bar : bool, default: True
        Draw a vertical bar of ``waveform_scale_uv`` µV in each subplot.
    show_axes : bool, default: True
        Draw the µm axes (ticks and labels) of each subplot; without them a grid of many units
        renders several times faster and reads as well (the grey dots show the array).
    fig : matplotlib Figure | None, default: None
        Figure to draw in (cleared); a new one otherwise.
    save_path : str | Path | None, default: None
        Also save the figure there (written to a temp name, then renamed).
    show : bool, default: False
        Call ``plt.show()``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    xy = np.asarray(channel_xy, dtype=float)
    if xy.ndim != 2 or xy.shape[1] < 2:
        raise SpikeDataError(f"channel_xy must be (channels, 2) in µm, got shape {xy.shape}.")
    xy = xy[:, :2]
    n_units = len(templates)
    if len(primary_channels) != n_units:
        raise SpikeDataError(f"{n_units} templates but {len(primary_channels)} primary channels.")
    labels = list(unit_labels) if unit_labels is not None else list(range(n_units))
    pitch_x, pitch_y = _pitches(xy)
    box = (waveform_box_um, waveform_box_um) if waveform_box_um else (0.8 * pitch_x, 1.5 * pitch_y)
    pad = pad_um if pad_um is not None else min(pitch_x, pitch_y) / 4
    threshold = (min_amplitude_uv, min_relative_amplitude)
    extents = [_extent(xy, np.asarray(t, dtype=float), int(c), threshold, box, pad, pitch_x)
               for t, c in zip(templates, primary_channels) if t is not None]
    aspect = float(np.median([(hi[1] - lo[1]) / (hi[0] - lo[0]) for lo, hi in extents])) if extents else 1.0
    aspect = min(max(aspect, 0.4), 8.0)
    n_cols = n_cols_grid or min(max(n_units, 1), max(1, math.ceil(math.sqrt(max(n_units, 1) * aspect))))
    n_rows = max(1, math.ceil(n_units / n_cols))
    panel_w = 2.4 if aspect >= 1 else 3.2
    if fig is None:
        fig = plt.figure(figsize=(panel_w * n_cols, min(panel_w * aspect, 9.0) * n_rows + 0.4))
    else:
        fig.clear()
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for k, ax in enumerate(axes):
        if k >= n_units or templates[k] is None:
            ax.set_visible(False)
            if k < n_units:
                log.warning("footprint_without_template", unit=labels[k])
            continue
        _draw_unit(
            ax,
            xy,
            np.asarray(templates[k], dtype=float),
            int(primary_channels[k]),
            box,
            pad,
            pitch_x,
            threshold,
            waveform_scale_uv,
            show_amplitude_scale_bar,
            show_axes,
            dict(color=waveform_color, primary=primary_color, lw=waveform_lw, dot=bg_dot_color, size=bg_dot_size),
        )
        ax.set_title(f"Unit {labels[k]}", fontsize=10)
    fig.tight_layout()
    if save_path is not None:
        _save_atomic(fig, Path(save_path))
    if show:
        plt.show()
    return fig


def _shown(template: np.ndarray, primary: int, threshold: tuple[float, float]) -> np.ndarray:
    """Channels drawn: at least ``threshold[0]`` µV and ``threshold[1]`` x the primary's peak-to-peak."""
    ptp = np.ptp(template, axis=1)
    cutoff = max(threshold[0], threshold[1] * ptp[primary])
    return np.flatnonzero((ptp >= cutoff) | (np.arange(len(ptp)) == primary))


def _extent(
    xy: np.ndarray,
    template: np.ndarray,
    primary: int,
    threshold: tuple[float, float],
    box: tuple[float, float],
    pad: float,
    pitch_x: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Data limits of one unit's panel: its drawn channels, their waveform boxes, the scale bar's column."""
    if template.ndim != 2 or template.shape[0] != xy.shape[0]:
        raise SpikeDataError(f"A template has shape {template.shape}; expected ({xy.shape[0]}, samples).")
    shown = _shown(template, primary, threshold)
    half = np.array([box[0] / 2, box[1] / 2]) + pad
    lo, hi = xy[shown].min(axis=0) - half, xy[shown].max(axis=0) + half
    hi[0] += 0.3 * pitch_x  # room for the scale bar, right of the waveforms
    return lo, hi


def _draw_unit(ax: Any, xy: np.ndarray, template: np.ndarray, primary: int, box: tuple[float, float], pad: float,
               pitch_x: float, threshold: tuple[float, float], scale_uv: float | None, scale_bar: bool, show_axes: bool,
               style: dict[str, Any]) -> None:
    from matplotlib.collections import LineCollection

    lo, hi = _extent(xy, template, primary, threshold, box, pad, pitch_x)
    shown = _shown(template, primary, threshold)
    scale = scale_uv or float(np.max(np.abs(template[shown]))) or 1.0
    gain = (box[1] / 2) / scale  # µm per µV: ``scale`` µV spans half a box
    inside = np.all((xy >= lo) & (xy <= hi), axis=1)
    ax.scatter(xy[inside, 0], xy[inside, 1], s=style["size"], color=style["dot"], alpha=0.4, zorder=0)
    t = np.linspace(-box[0] / 2, box[0] / 2, template.shape[1])
    # One collection for all channels: one artist to lay out and draw instead of one per channel.
    segments = np.stack([np.broadcast_to(xy[shown, 0:1] + t, (shown.size, t.size)),
                         xy[shown, 1:2] + template[shown] * gain], axis=-1)
    colours = [style["primary"] if ch == primary else style["color"] for ch in shown]
    ax.add_collection(LineCollection(segments, colors=colours, linewidths=style["lw"]))
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    if show_axes:
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("y (µm)")
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    if scale_bar:
        # the bar in its own column right of the waveforms; its label inside the panel's corner
        x0, y0 = hi[0] - 0.15 * pitch_x, lo[1] + 0.12 * (hi[1] - lo[1])
        ax.plot([x0, x0], [y0, y0 + box[1] / 2], color="black", lw=2.0)
        ax.text(0.97, 0.015, f"{scale:.0f} µV", transform=ax.transAxes, fontsize=8, ha="right", va="bottom")


def _pitches(xy: np.ndarray) -> tuple[float, float]:
    """Column and row pitch (µm): the usual spacing of distinct x and of distinct y positions."""
    fallback = _pitch(xy)
    found = []
    for axis in (0, 1):
        values = np.unique(np.round(xy[:, axis], 3))
        steps = np.diff(values)
        steps = steps[steps > 0]
        found.append(float(np.median(steps)) if steps.size else fallback)
    return found[0], found[1]


def _pitch(xy: np.ndarray) -> float:
    if len(xy) < 2:
        return 20.0
    distance = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=-1)
    np.fill_diagonal(distance, np.inf)
    nearest = distance.min(axis=1)
    nearest = nearest[np.isfinite(nearest) & (nearest > 0)]
    return float(np.median(nearest)) if nearest.size else 20.0


def _save_atomic(fig: Figure, path: Path) -> None:
    with atomic_open(path) as handle:
        fig.savefig(handle, format=path.suffix.lstrip(".") or None)


def plot_sd_footprints(sd: SpikeData, unit_ids: Any = None, *, min_amplitude_uv: float = 5.0, **kwargs: Any) -> Figure:
    """:func:`plot_unit_footprints` for units of a SpikeData (all units by default).

    Needs ``metadata["channel_locations"]`` and, per unit, ``template`` (channels x samples)
    and ``channel``; ``unit_ids`` are values of ``neuron_attributes["unit_id"]`` (or indices
    when units have no id).
    """
    locations = sd.metadata.get("channel_locations")
    if locations is None:
        raise SpikeDataError("plot_unit_footprints needs metadata['channel_locations'] (channels x 2, µm).")
    ids = sd.unit_ids
    if unit_ids is None:
        indices = np.arange(sd.N)
    else:
        wanted = np.atleast_1d(np.asarray(unit_ids)).tolist()
        lookup = {u: i for i, u in enumerate(ids.tolist())}
        unknown = [u for u in wanted if u not in lookup]
        if unknown:
            raise SpikeDataError(f"Unknown unit ids {unknown}; known: {ids.tolist()}.")
        indices = np.array([lookup[u] for u in wanted], dtype=int)
    templates, primaries = [], []
    for i in indices:
        attrs = sd.neuron_attributes[i]
        template = attrs.get("template", attrs.get("template_full"))
        if template is None or attrs.get("channel") is None:
            raise SpikeDataError(
                f"Unit {ids[i]} has no 'template' (channels x samples) or 'channel'; call "
                "sd.compute_waveform_metrics() (needs raw_data) or attach them."
            )
        templates.append(template)
        primaries.append(int(attrs["channel"]))
    return plot_unit_footprints(locations, templates, primaries, unit_labels=ids[indices].tolist(),
                                min_amplitude_uv=min_amplitude_uv, **kwargs)
