"""plot_unit_footprints draws each unit's channels at their positions."""

from __future__ import annotations

import matplotlib.colors as mcolors
import numpy as np
import pytest
from matplotlib.collections import LineCollection

from spikelab import SpikeData
from spikelab.spikedata import SpikeDataError
from spikelab.spikedata.plot_utils import plot_unit_footprints

XY = np.array([[x, y] for y in (0.0, 17.5, 35.0) for x in (0.0, 17.5, 35.0)])


def _template(primary, amplitude=80.0):
    gains = np.exp(-np.linalg.norm(XY - XY[primary], axis=1) / 10.0)
    return np.outer(gains, -amplitude * np.hanning(30))


def _sd():
    attrs = [
        {"unit_id": 3, "channel": 4, "template": _template(4)},
        {"unit_id": 9, "channel": 0, "template": _template(0)},
    ]
    return SpikeData([[1.0], [2.0]], length=5.0, neuron_attributes=attrs, metadata={"channel_locations": XY})


def _waveforms(ax):
    """(x, y, colour) of every drawn 30-sample waveform (the scale bar has 2 points)."""
    drawn = []
    for collection in ax.collections:
        if not isinstance(collection, LineCollection):
            continue
        colours = collection.get_colors()
        for k, segment in enumerate(collection.get_segments()):
            if len(segment) == 30:
                drawn.append((segment[:, 0], segment[:, 1], colours[k % len(colours)]))
    return drawn


def test_one_subplot_per_unit_with_channels_above_threshold_and_red_primary():
    template = _template(4)
    fig = plot_unit_footprints(XY, [template], [4], min_amplitude_uv=20.0, show_amplitude_scale_bar=False)
    (ax,) = [a for a in fig.axes if a.get_visible()]
    waveforms = _waveforms(ax)
    assert len(waveforms) == int((np.ptp(template, axis=1) >= 20.0).sum())
    red = [w for w in waveforms if mcolors.same_color(w[2], "tab:red")]
    assert len(red) == 1
    assert red[0][0].mean() == pytest.approx(XY[4, 0], abs=1e-6)


def test_axes_can_be_left_out_for_large_grids():
    fig = plot_unit_footprints(XY, [_template(4)], [4], show_axes=False)
    (ax,) = [a for a in fig.axes if a.get_visible()]
    assert ax.get_xticks().size == 0 and ax.get_xlabel() == ""
    assert len(_waveforms(ax)) > 0
    labelled = plot_unit_footprints(XY, [_template(4)], [4])
    assert labelled.axes[0].get_xlabel() == "x (µm)"


def test_spikedata_method_selects_units_by_id_and_saves(tmp_path):
    fig = _sd().plot_unit_footprints([9, 3], save_path=tmp_path / "fp.png")
    titles = [a.get_title() for a in fig.axes if a.get_visible()]
    assert titles == ["Unit 9", "Unit 3"]
    assert (tmp_path / "fp.png").stat().st_size > 0


def test_missing_template_hides_the_subplot():
    fig = plot_unit_footprints(XY, [_template(0), None], [0, 1])
    assert sum(a.get_visible() for a in fig.axes) == 1


def test_clear_errors_for_unknown_ids_and_missing_pieces():
    with pytest.raises(SpikeDataError, match="Unknown unit ids"):
        _sd().plot_unit_footprints([42])
    no_locations = SpikeData([[1.0]], neuron_attributes=[{"channel": 0, "template": _template(0)}])
    with pytest.raises(SpikeDataError, match="channel_locations"):
        no_locations.plot_unit_footprints()
    no_template = SpikeData([[1.0]], neuron_attributes=[{"channel": 0}], metadata={"channel_locations": XY})
    with pytest.raises(SpikeDataError, match="compute_waveform_metrics"):
        no_template.plot_unit_footprints()


def _probe_template(primary, xy, amplitude=120.0):
    gains = np.exp(-np.linalg.norm(xy - xy[primary], axis=1) / 25.0)
    return np.outer(gains, -amplitude * np.hanning(30))


def test_footprints_fill_their_panels_and_labels_stay_inside():
    """A 2-column probe (tall and narrow): waveforms big enough to read, panels without empty bands."""
    import matplotlib.pyplot as plt

    xy = np.array([[x, 20.0 * row] for row in range(32) for x in (0.0, 32.0)])
    units = [10, 30, 50]
    fig = plot_unit_footprints(xy, [_probe_template(u, xy) for u in units], units, show_axes=False)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in [a for a in fig.axes if a.get_visible()]:
        box = ax.get_window_extent()
        drawn = _waveforms(ax)
        xs = np.concatenate([x for x, _, _ in drawn])
        ys = np.concatenate([y for _, y, _ in drawn])
        shown = ax.transData.transform(np.c_[[xs.min(), xs.max()], [ys.min(), ys.max()]])
        covered = np.prod(np.abs(np.diff(shown, axis=0))) / (box.width * box.height)
        assert covered > 0.45, f"waveforms cover {covered:.0%} of their panel"  # 16% before #22.9
        red = next(y for _, y, c in drawn if mcolors.to_hex(c) == mcolors.to_hex("tab:red"))
        deflection_px = np.ptp(ax.transData.transform(np.c_[np.zeros_like(red), red])[:, 1])
        pitch_px = np.ptp(ax.transData.transform([[0.0, 0.0], [0.0, 20.0]])[:, 1])
        assert deflection_px > 0.6 * pitch_px, "the primary waveform is tiny next to the channel spacing"
        for text in ax.texts:  # the µV label of the scale bar
            label = text.get_window_extent(renderer)
            assert box.x0 <= label.x0 and label.x1 <= box.x1 and box.y0 <= label.y0 and label.y1 <= box.y1, text
    plt.close(fig)


def test_far_channels_with_residual_noise_do_not_stretch_a_large_units_panel():
    """A 150 µV unit whose far channels hold ~8 µV of leftover noise (as Kilosort templates do)."""
    import matplotlib.pyplot as plt

    xy = np.array([[x, 20.0 * row] for row in range(32) for x in (0.0, 32.0)])
    template = _probe_template(10, xy, amplitude=150.0)
    template += np.random.default_rng(0).normal(0.0, 2.0, template.shape)  # ptp ~8 µV everywhere
    fig = plot_unit_footprints(xy, [template], [10], show_axes=False)
    (ax,) = [a for a in fig.axes if a.get_visible()]
    ys = np.concatenate([y for _, y, _ in _waveforms(ax)])
    assert ys.max() - ys.min() < 200.0, "channels 300 µm away were drawn"  # near the unit only
    plt.close(fig)
