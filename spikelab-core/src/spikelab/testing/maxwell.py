"""Writers of small synthetic Maxwell ``.raw.h5`` files, one per layout the readers must handle.

Only the datasets the readers use are written (``version``, ``settings``, ``mapping``, ``sig`` or
``wells/<well>/<rec>/...``). Traces are uint16 Gaussian noise around mid-scale (512), so a
file reads back like a real Maxwell recording before filtering. Every writer returns the path
it wrote and is deterministic for a given ``seed``.

Layouts
-------
- :func:`write_legacy` -- MaxOne 2016 layout (``version`` 20160704, ``/sig`` channels x time);
  ``extra_rows`` appends non-signal rows as real legacy files have (neo 0.14 misreads those).
- :func:`write_new` -- MaxOne/MaxTwo layout (``version`` 20190530, one stream per well, each well
  may hold several recordings ``rec0000``, ``rec0001``...), optionally compressed with a standard
  HDF5 filter from ``hdf5plugin`` (e.g. Zstd).

Both take ``blocks`` instead of ``traces`` for files larger than memory: an iterable of uint16
``(channels, n)`` blocks written one after another (``bench/scale`` writes full-array files so);
``write_new`` also takes ``{well: blocks}`` for a MaxTwo file of several full-size wells.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

LEGACY_VERSION = b"20160704"
NEW_VERSION = b"20190530"
DEFAULT_LSB_V = 6.294e-6
MID_SCALE = 512

_MAPPING_DTYPE = np.dtype([("channel", "<i4"), ("electrode", "<i4"), ("x", "<f8"), ("y", "<f8")])


def maxwell_mapping(num_channels: int, *, electrode_offset: int = 1000, pitch_um: float = 17.5) -> np.ndarray:
    """A mapping table (channel, electrode, x, y) for ``num_channels`` channels on a 4-column grid."""
    mapping = np.zeros(num_channels, dtype=_MAPPING_DTYPE)
    channels = np.arange(num_channels)
    mapping["channel"] = channels
    mapping["electrode"] = electrode_offset + channels
    mapping["x"] = (channels % 4) * pitch_um
    mapping["y"] = (channels // 4) * pitch_um
    return mapping


def synthetic_traces(num_channels: int, num_samples: int, *, seed: int = 0, noise_adc: float = 3.0) -> np.ndarray:
    """uint16 traces ``(channels, samples)``: noise around mid-scale with a channel index offset.

    Row ``k`` has mean ``512 + k``, so a reader that picks the wrong rows is caught by its mean.
    """
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, noise_adc, size=(num_channels, num_samples))
    offsets = MID_SCALE + np.arange(num_channels)[:, None]
    return np.clip(np.rint(noise + offsets), 0, 1023).astype(np.uint16)


def write_legacy(
    path: str | Path,
    *,
    num_channels: int = 16,
    num_samples: int = 2000,
    extra_rows: int = 0,
    traces: np.ndarray | None = None,
    mapping: np.ndarray | None = None,
    lsb_v: float | None = DEFAULT_LSB_V,
    gain: float | None = None,
    seed: int = 0,
    blocks: Iterable[np.ndarray] | None = None,
) -> Path:
    """Write a legacy MaxOne file (``/sig`` rows = mapped channels + ``extra_rows``).

    Parameters
    ----------
    path : str or Path
        File to write (parents are created).
    num_channels, num_samples : int, default: 16, 2000
        Mapped channels and samples (ignored when ``traces`` is given).
    extra_rows : int, default: 0
        Non-signal rows appended to ``/sig`` (real legacy files have 1028 rows for <= 1024 channels).
    traces : ndarray, optional
        uint16 ``(channels, samples)`` signal rows to write instead of noise.
    mapping : ndarray, optional
        Mapping table; default :func:`maxwell_mapping`.
    lsb_v : float or None, default: 6.294e-6
        ``settings/lsb`` in volts; None leaves it out.
    gain : float, optional
        ``settings/gain`` (used by readers when ``lsb`` is absent).
    seed : int, default: 0
        Noise seed.
    blocks : iterable of ndarray, optional
        uint16 ``(num_channels, n)`` signal blocks written in turn, ``num_samples`` frames in all
        (for files larger than memory); replaces ``traces``.
    """
    import h5py

    if blocks is not None:
        return _write_legacy_blocks(Path(path), num_channels, num_samples, extra_rows, blocks, mapping, lsb_v, gain)
    signal = traces if traces is not None else synthetic_traces(num_channels, num_samples, seed=seed)
    num_channels, num_samples = signal.shape
    mapping = mapping if mapping is not None else maxwell_mapping(num_channels)
    sig = signal
    if extra_rows:
        extra = np.zeros((extra_rows, num_samples), dtype=np.uint16)
        extra[-2:] = np.arange(num_samples, dtype=np.uint16)  # frame-number rows, as real files
        sig = np.concatenate([signal, extra])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("version", data=np.array([LEGACY_VERSION]))
        _write_settings(f.create_group("settings"), lsb_v, gain)
        f.create_dataset("mapping", data=mapping)
        f.create_dataset("sig", data=sig)
    return path


def write_new(
    path: str | Path,
    *,
    wells: Sequence[str] = ("well000",),
    rec_names: Sequence[str] = ("rec0000",),
    num_channels: int = 8,
    num_samples: int = 2000,
    sampling_frequency: float = 20000.0,
    traces: dict[tuple[str, str], np.ndarray] | None = None,
    lsb_v: float | None = DEFAULT_LSB_V,
    compression: Any = None,
    seed: int = 0,
    blocks: Iterable[np.ndarray] | Mapping[str, Iterable[np.ndarray]] | None = None,
    mapping: np.ndarray | None = None,
) -> Path:
    """Write a new-layout (MaxOne >= 2019 / MaxTwo) file with one stream per well.

    Parameters
    ----------
    path : str or Path
        File to write.
    wells : sequence of str, default: ("well000",)
        Wells (streams) to write; well ``k`` uses electrodes from ``1000 + 100 * k``.
    rec_names : sequence of str, default: ("rec0000",)
        Recordings written in every well. Pass a dict-like per well through ``traces`` keys to
        vary them; here every well gets every name.
    num_channels, num_samples : int, default: 8, 2000
        Size of each recording.
    sampling_frequency : float, default: 20000.0
        Written to ``settings/sampling``.
    traces : dict, optional
        ``{(well, rec_name): uint16 (channels, samples)}`` overriding the generated noise.
    lsb_v : float or None, default: 6.294e-6
        ``settings/lsb`` in volts.
    compression : hdf5plugin filter object, str or None, default: None
        Passed to ``create_dataset`` for ``groups/routed/raw``: ``"gzip"`` (built into HDF5) or
        an ``hdf5plugin`` filter such as ``hdf5plugin.Zstd()``.
    seed : int, default: 0
        Noise seed (each well and recording gets its own derived seed).
    blocks : iterable of ndarray or dict, optional
        uint16 ``(num_channels, n)`` blocks, ``num_samples`` frames in all, written in turn into
        the single well and recording (for files larger than memory); or ``{well: blocks}``
        filling each of ``wells`` (one recording each) in turn.
    mapping : ndarray, optional
        Mapping table of a single well; default :func:`maxwell_mapping`.
    """
    import h5py

    if blocks is not None and not isinstance(blocks, Mapping):
        if len(wells) * len(rec_names) != 1:
            raise ValueError("blocks fill a single well and recording; pass one of each, or {well: blocks}")
        blocks = {wells[0]: blocks}
    if blocks is not None and (len(rec_names) != 1 or set(blocks) != set(wells)):
        raise ValueError("{well: blocks} needs blocks for every well and a single recording name")
    kwargs: dict[str, Any] = {}
    if compression is not None:
        kwargs = dict(compression) if not isinstance(compression, str) else {"compression": compression}
        kwargs["chunks"] = (num_channels, min(num_samples, 1000))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("version", data=np.array([NEW_VERSION]))
        for w, well in enumerate(wells):
            for r, rec_name in enumerate(rec_names):
                key = (well, rec_name)
                rec = f.create_group(f"wells/{well}/{rec_name}")
                settings = rec.create_group("settings")
                settings.create_dataset("sampling", data=np.array([sampling_frequency]))
                _write_settings(settings, lsb_v, None)
                if blocks is not None:
                    table = (
                        mapping if mapping is not None
                        else maxwell_mapping(num_channels, electrode_offset=1000 + 100 * w)
                    )
                    settings.create_dataset("mapping", data=table)
                    raw = rec.create_dataset("groups/routed/raw", shape=(num_channels, num_samples),
                                             dtype=np.uint16, **kwargs)
                    _fill(raw, blocks[well], num_samples)
                    continue
                if traces is not None and key in traces:
                    data = np.asarray(traces[key], dtype=np.uint16)
                else:
                    data = synthetic_traces(num_channels, num_samples, seed=seed + 100 * w + r)
                table = (
                    mapping if mapping is not None else maxwell_mapping(data.shape[0], electrode_offset=1000 + 100 * w)
                )
                settings.create_dataset("mapping", data=table)
                rec.create_dataset("groups/routed/raw", data=data, **kwargs)
    return path


def _fill(dataset: Any, blocks: Iterable[np.ndarray], num_samples: int) -> None:
    """Write ``blocks`` into ``dataset`` (rows = the blocks' channels) one after another."""
    at = 0
    for block in blocks:
        block = np.asarray(block, dtype=np.uint16)
        dataset[: block.shape[0], at : at + block.shape[1]] = block
        at += block.shape[1]
    if at != num_samples:
        raise ValueError(f"blocks held {at} frames, num_samples says {num_samples}")


def _write_legacy_blocks(path: Path, num_channels: int, num_samples: int, extra_rows: int,
                         blocks: Iterable[np.ndarray], mapping: np.ndarray | None, lsb_v: float | None,
                         gain: float | None) -> Path:
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("version", data=np.array([LEGACY_VERSION]))
        _write_settings(f.create_group("settings"), lsb_v, gain)
        f.create_dataset("mapping", data=mapping if mapping is not None else maxwell_mapping(num_channels))
        sig = f.create_dataset("sig", shape=(num_channels + extra_rows, num_samples), dtype=np.uint16)
        _fill(sig, blocks, num_samples)
        if extra_rows:
            frames = np.arange(num_samples, dtype=np.uint16)  # frame-number rows, as real files
            sig[num_channels + extra_rows - 2 :, :] = np.broadcast_to(frames, (2, num_samples))
    return path


def _write_settings(group: Any, lsb_v: float | None, gain: float | None) -> None:
    if lsb_v is not None:
        group.create_dataset("lsb", data=np.array([lsb_v]))
    if gain is not None:
        group.create_dataset("gain", data=np.array([gain]))
