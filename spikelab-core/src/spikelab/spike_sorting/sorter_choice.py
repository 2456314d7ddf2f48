"""``sorter="auto"``: the best measured sorter for a recording's array, sampling rate and hardware.

The choices are data, not code: ``sorter_choice.toml`` beside this module (or the file named by
``SPIKELAB_SORTER_CHOICES``) holds one row per kind of recording, each citing the benchmark
result it comes from (and may cite a second recording, ``also``: a realistic one beside a
generated one). :func:`choose_sorter` reads the recording's channel positions (a dense 2-D
grid or a linear / multi-shank probe: :func:`array_kind`), its sampling rate and whether NVML
sees an NVIDIA GPU, takes the first matching row and picks the first sorter of its ranking that
is installed and can sort the recording. The reason it gives names the measurement, and any
better-ranked sorter that is not installed with the ``pip install`` that provides it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from spikelab.errors import ConfigError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    from spikelab.plugins.manager import SpikeLabPluginManager

#: The name that asks for the choice.
AUTO = "auto"
#: The table shipped with SpikeLab.
TABLE_PATH = Path(__file__).with_name("sorter_choice.toml")
#: Environment variable naming another table (a site's own benchmark).
ENV_TABLE = "SPIKELAB_SORTER_CHOICES"
#: A shank is a 2-D grid when it is at least this many contact pitches across its narrow axis
#: (4 contacts): Neuropixels 1.0's four staggered columns span 1.9 pitches, 2.0's two span 2.1.
GRID_MIN_PITCHES = 3.0


@attrs.frozen
class SorterChoice:
    """What ``sorter="auto"`` chose and why.

    Parameters
    ----------
    sorter : str
        The chosen backend.
    reason : str
        One sentence naming the measurement it rests on (printed and written into the report).
    array : str
        ``"grid"`` or ``"probe"``.
    sampling_frequency : float
        Of the recording (Hz).
    gpu : bool
        Whether NVML saw an NVIDIA GPU.
    skipped : tuple of str
        Better-ranked sorters passed over, each with why and the fix.
    """

    sorter: str
    reason: str
    array: str
    sampling_frequency: float
    gpu: bool
    skipped: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """``sorter='auto' chose NAME: reason``, as results and reports give it."""
        return f"sorter='auto' chose {self.sorter}: {self.reason}"


def array_kind(locations: np.ndarray) -> str:
    """``"grid"`` for a dense 2-D array, ``"probe"`` for a linear or multi-shank probe.

    Channels closer than 2.5 contact pitches (the median nearest-neighbour distance) form one
    shank; a shank is a grid when its extent across its narrow (principal) axis is at least
    :data:`GRID_MIN_PITCHES` pitches. The recording is a grid when most channels lie on grids.

    Parameters
    ----------
    locations : np.ndarray
        Channel positions (channels x 2 or 3, µm).

    Returns
    -------
    str
        ``"grid"`` or ``"probe"``.
    """
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    points = np.asarray(locations, dtype=float)[:, :2]
    if len(points) < 4:
        return "probe"
    tree = cKDTree(points)
    nearest = tree.query(points, k=2)[0][:, 1]
    pitch = float(np.median(nearest[nearest > 0])) if (nearest > 0).any() else 0.0
    if pitch <= 0:
        return "probe"
    n_shanks, labels = connected_components(tree.sparse_distance_matrix(tree, 2.5 * pitch), directed=False)
    on_grids = 0
    for shank in range(n_shanks):
        members = points[labels == shank]
        if len(members) < 4:
            continue
        centred = members - members.mean(axis=0)
        narrow_axis = np.linalg.svd(centred, full_matrices=False)[2][-1]
        across = np.ptp(centred @ narrow_axis)
        if across >= GRID_MIN_PITCHES * pitch - 1e-6:
            on_grids += len(members)
    return "grid" if on_grids > len(points) / 2 else "probe"


def has_nvidia_gpu(load_nvml: Callable[[], Any] | None = None) -> bool:
    """Whether NVML sees at least one NVIDIA GPU (``load_nvml`` is the preflight's probe seam)."""
    if load_nvml is None:
        from spikelab.spike_sorting.guards.gpu import load_nvml
    nvml = load_nvml()
    if nvml is None:
        return False
    try:
        return int(nvml.nvmlDeviceGetCount()) > 0
    except Exception:
        return False


def load_table(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The ``[[choice]]`` rows of a table (default: ``SPIKELAB_SORTER_CHOICES``, else the shipped one).

    Raises
    ------
    ConfigError
        For an unreadable table, a row without ``array``, ``source`` or ``ranking``, or an ``also``
        without its ``source``.
    """
    path = Path(path or os.environ.get(ENV_TABLE) or TABLE_PATH)
    try:
        rows = tomllib.loads(path.read_text(encoding="utf-8")).get("choice", [])
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read the sorter choice table {path}: {exc}") from exc
    for index, row in enumerate(rows):
        missing = [k for k in ("array", "source", "ranking") if not row.get(k)]
        if missing or row["array"] not in ("grid", "probe"):
            raise ConfigError(f"{path}: choice {index + 1} needs array ('grid' or 'probe'), source and "
                              f"ranking; it lacks {missing or ['a valid array']}.")
        if "also" in row and not (isinstance(row["also"], dict) and row["also"].get("source")):
            raise ConfigError(f"{path}: choice {index + 1}: `also` names a second recording and needs its source.")
    return rows


def _matches(row: dict[str, Any], array: str, fs: float, gpu: bool) -> bool:
    wanted_gpu = str(row.get("gpu", "any"))
    return (row["array"] == array and float(row.get("min_hz", 0)) <= fs < float(row.get("max_hz", np.inf))
            and wanted_gpu in ("any", "yes" if gpu else "no"))


def _cannot_sort(manager: SpikeLabPluginManager, name: str, recording: Any) -> str | None:
    """Why the installed backend ``name`` cannot sort ``recording`` here (None when it can)."""
    from spikelab.spike_sorting.api import build_config

    backend = manager.sorter(name)
    try:
        config = build_config(name, None, {}, manager)
        problems = [*(backend.check_environment(config) or []), *(backend.check_recording(recording, config) or [])]
    except Exception as exc:  # a broken backend is passed over, with its reason
        problems = [f"{type(exc).__name__}: {exc}"]
    return str(problems[0]) if problems else None


def _where(fs: float, array: str, gpu: bool) -> str:
    shape = "dense 2-D grid" if array == "grid" else "linear/multi-shank probe"
    return f"a {shape} at {fs / 1000:g} kHz {'with' if gpu else 'without'} an NVIDIA GPU"


def _via(entry: dict[str, Any]) -> str:
    return f", run through {entry['via']}" if entry.get("via") not in (None, "spikelab") else ""


def choose_sorter(
    recording: Any,
    *,
    manager: SpikeLabPluginManager | None = None,
    load_nvml: Callable[[], Any] | None = None,
    table: Sequence[dict[str, Any]] | None = None,
) -> SorterChoice:
    """The best measured sorter for ``recording`` among those installed.

    Parameters
    ----------
    recording : BaseRecording
        With channel locations.
    manager : SpikeLabPluginManager, optional
        Where installed backends are looked up (default: the process's).
    load_nvml : callable, optional
        Returns an initialised ``pynvml`` or None (default: the preflight's probe).
    table : list of dict, optional
        Rows as :func:`load_table` returns them (default: the table file).

    Returns
    -------
    SorterChoice

    Raises
    ------
    ConfigError
        When no row matches, or no ranked sorter is installed and able; the message lists
        what to install.
    """
    from spikelab.plugins import plugin_manager_in_use

    manager = plugin_manager_in_use(manager)
    array = array_kind(recording.get_channel_locations())
    fs = float(recording.get_sampling_frequency())
    gpu = has_nvidia_gpu(load_nvml)
    rows = [row for row in (table if table is not None else load_table()) if _matches(row, array, fs, gpu)]
    if not rows:
        raise ConfigError(f"sorter='auto' has no measured choice for {_where(fs, array, gpu)}; pass "
                          "sorter=NAME (`spikelab plugins` lists the installed sorters).")
    row, installed = rows[0], manager.sorters()
    skipped: list[str] = []
    for entry in row["ranking"]:
        name = entry["sorter"]
        if name not in installed:
            skipped.append(f"{name} ({entry.get('well_detected', '?')}) is not installed: "
                           f"`pip install {entry.get('package', 'the package that provides ' + name)}`")
            continue
        problem = _cannot_sort(manager, name, recording)
        if problem:
            skipped.append(f"{name} ({entry.get('well_detected', '?')}) cannot sort it here: {problem}")
            continue
        reason = (f"best measured for {_where(fs, array, gpu)}: {entry.get('well_detected', '?')} ground-truth "
                  f"units well detected after curation{_via(entry)} on {row.get('recording', 'its benchmark')} "
                  f"({row['source']})")
        if row.get("also") and entry.get("also"):
            reason += (f" and {entry['also'].get('well_detected', '?')}{_via(entry['also'])} on "
                       f"{row['also'].get('recording', 'its benchmark')} ({row['also']['source']})")
        if skipped:
            reason += "; ranked above it: " + "; ".join(skipped)
        return SorterChoice(sorter=name, reason=reason, array=array, sampling_frequency=fs, gpu=gpu,
                            skipped=tuple(skipped))
    raise ConfigError(f"sorter='auto' found none of the sorters measured for {_where(fs, array, gpu)} "
                      f"usable ({row['source']}): " + "; ".join(skipped) + ".")


def wants_auto(sorter: Any, config: Any, kwargs: dict[str, Any]) -> bool:
    """Whether a call asks for ``sorter="auto"`` (by ``sorter=`` or a flat ``sorter``/``sorter_name``)."""
    asked = sorter == AUTO or (sorter is None and AUTO in (kwargs.get("sorter"), kwargs.get("sorter_name")))
    if asked and config is not None:
        raise ConfigError("sorter='auto' chooses the sorter and starts from its preset; it cannot keep a "
                          "config= made for another sorter. Pass flat keywords instead of config=, or "
                          "name the sorter.")
    return asked


def choose_for_inputs(recording_files: Any, kwargs: dict[str, Any], **choose_kwargs: Any) -> SorterChoice:
    """:func:`choose_sorter` for the inputs of one ``sort_recording`` call (headers only).

    ``kwargs`` are the call's flat keywords; ``sorter``/``sorter_name`` are removed from it, and
    the recording knobs among them (``stream_id``, the time window) open the inputs.

    Raises
    ------
    ConfigError
        When the inputs call for different sorters (sort them in separate calls).
    """
    from spikelab.spike_sorting.config import FLAT_MAP, SortingPipelineConfig
    from spikelab.spike_sorting.io import open_recording
    from spikelab.spike_sorting.stages import load

    for key in ("sorter", "sorter_name"):
        kwargs.pop(key, None)
    knobs = {k: v for k, v in kwargs.items() if FLAT_MAP.get(k, ("",))[0] == "recording"}
    recording_config = SortingPipelineConfig().override(**knobs).recording
    choices = {}
    for source in load.as_sources(recording_files):
        item = open_recording(source, recording_config, plugins=choose_kwargs.get("manager"))
        choices[item.name] = choose_sorter(item.recording, **choose_kwargs)
    picked = {choice.sorter for choice in choices.values()}
    if len(picked) > 1:
        raise ConfigError("sorter='auto' picks different sorters for these recordings ("
                          + ", ".join(f"{n}: {c.sorter}" for n, c in choices.items())
                          + "); sort each kind in its own call, or pass sorter=NAME.")
    return next(iter(choices.values()))
