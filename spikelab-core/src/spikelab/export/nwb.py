"""NWB: archive sorted units (and, on request, the traces) with pynwb; read them back.

The units table carries spike times (seconds, as NWB requires), the electrodes each unit sits on,
positions, the mean waveform, and every scalar quality metric; the electrodes table carries the
channel positions; the curation history and per-recording facts go into the file's scratch space
as JSON. A file written here reads back with bit-identical spike trains.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from spikelab.errors import InputError
from spikelab.export._common import curation_history, scalar_columns, templates

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

    from spikelab.spikedata import SpikeData

log = structlog.get_logger("spikelab.export")

_FACTS = "spikelab_facts"


def export_to_nwb(
    sd: SpikeData,
    path: str | Path,
    recording: BaseRecording | None = None,
    *,
    include_traces: str | None = None,
    session_description: str = "Spike-sorted units exported by SpikeLab",
    session_start_time: dt.datetime | None = None,
    identifier: str | None = None,
    subject: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``sd`` to an NWB file.

    Parameters
    ----------
    sd : SpikeData
        Units to export; ``metadata["fs_Hz"]`` keeps spike times exact on reading.
    path : str or Path
        The ``.nwb`` file to write (atomically: a temporary name, then renamed).
    recording : BaseRecording, optional
        Needed only with ``include_traces``.
    include_traces : {None, "raw", "filtered"}, default: None
        Also store the traces as an ElectricalSeries (``"filtered"``: 300-6000 Hz band-pass).
    session_description, session_start_time, identifier
        NWB file fields; the start time defaults to ``metadata["session_start_time"]`` or now.
    subject : dict, optional
        ``pynwb.file.Subject`` fields (``subject_id``, ``species``, ``age``, ``sex``...).
    overwrite : bool, default: False
        Replace an existing file.

    Returns
    -------
    Path
        The file written.
    """
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject

    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"{path} already exists; pass overwrite=True (CLI: --overwrite) to replace it.")
    if include_traces not in (None, "raw", "filtered"):
        raise InputError(f"include_traces must be None, 'raw' or 'filtered', got {include_traces!r}.")
    if include_traces and recording is None:
        raise InputError("include_traces needs the recording: pass recording=...")
    start = session_start_time or _start_time(sd)
    nwbfile = NWBFile(
        session_description=session_description,
        identifier=identifier or str(uuid.uuid4()),
        session_start_time=start,
        source_script="spikelab",
        source_script_file_name="spikelab.export.nwb",
        subject=Subject(**subject) if subject else None,
    )
    electrodes = _add_electrodes(nwbfile, sd)
    _add_units(nwbfile, sd, electrodes)
    if include_traces:
        _add_traces(nwbfile, recording, include_traces, electrodes)
    facts = {
        "fs_Hz": sd.fs_Hz,
        "length_ms": sd.length,
        "start_time_ms": sd.start_time,
        "curation_history": curation_history(sd),
        "rec_chunks_ms": sd.metadata.get("rec_chunks_ms"),
        "rec_chunk_names": sd.metadata.get("rec_chunk_names"),
    }
    nwbfile.add_scratch(json.dumps(facts, default=_plain), name=_FACTS, description="SpikeLab metadata (JSON)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")  # keeps the .nwb suffix pynwb expects
    with NWBHDF5IO(str(tmp), "w") as io:
        io.write(nwbfile)
    os.replace(tmp, path)
    log.info("exported", format="nwb", path=str(path), units=sd.N)
    return path


def _start_time(sd: SpikeData) -> dt.datetime:
    value = sd.metadata.get("session_start_time")
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _add_electrodes(nwbfile, sd: SpikeData) -> int:
    locations = sd.metadata.get("channel_locations")
    if locations is None:
        return 0
    locations = np.asarray(locations, dtype=float)
    device = nwbfile.create_device(name="array", description=str(sd.metadata.get("source_format", "recording")))
    group = nwbfile.create_electrode_group(
        name="array", description="all channels", location="unknown", device=device
    )
    ids = sd.metadata.get("channel_ids") or list(range(len(locations)))
    nwbfile.add_electrode_column(name="channel_name", description="channel id in the source recording")
    for (x, y), channel_id in zip(locations, ids):
        nwbfile.add_electrode(rel_x=float(x), rel_y=float(y), group=group, location="unknown", channel_name=str(channel_id))
    return len(locations)


def _add_units(nwbfile, sd: SpikeData, n_electrodes: int) -> None:
    columns = scalar_columns(sd)
    waveforms = templates(sd)
    nwbfile.add_unit_column(name="unit_name", description="unit id given by the sorter")
    for name in columns:
        nwbfile.add_unit_column(name=name, description=f"SpikeLab per-unit value: {name}")
    obs = [[sd.start_time / 1000.0, (sd.start_time + sd.length) / 1000.0]]
    for index in range(sd.N):
        row: dict[str, Any] = {
            "spike_times": np.asarray(sd.train[index], dtype=np.float64) / 1000.0,
            "unit_name": str(sd.unit_ids[index]),
            "obs_intervals": obs,
        }
        row.update({name: float(values[index]) for name, values in columns.items()})
        channel = sd.neuron_attributes[index].get("channel")
        if n_electrodes and channel is not None and 0 <= int(channel) < n_electrodes:
            row["electrodes"] = [int(channel)]
        if waveforms is not None and n_electrodes == waveforms.shape[2]:
            row["waveform_mean"] = waveforms[index]
        nwbfile.add_unit(**row)


def _add_traces(nwbfile, recording, mode: str, n_electrodes: int) -> None:
    from hdmf.data_utils import GenericDataChunkIterator
    from pynwb.ecephys import ElectricalSeries

    if mode == "filtered":
        import spikeinterface.preprocessing as spre

        recording = spre.bandpass_filter(recording, freq_min=300.0, freq_max=6000.0)
    if n_electrodes != recording.get_num_channels():
        raise InputError("The recording's channels do not match the SpikeData's channel_locations.")

    class _Traces(GenericDataChunkIterator):
        def _get_data(self, selection):
            return recording.get_traces(
                start_frame=selection[0].start, end_frame=selection[0].stop, return_in_uV=recording.has_scaleable_traces()
            )[:, selection[1]]

        def _get_maxshape(self):
            return (recording.get_num_samples(), recording.get_num_channels())

        def _get_dtype(self):
            return np.dtype("float32")

    region = nwbfile.create_electrode_table_region(list(range(n_electrodes)), "all channels")
    nwbfile.add_acquisition(
        ElectricalSeries(
            name=f"ElectricalSeries{mode.capitalize()}",
            data=_Traces(buffer_gb=0.1),
            electrodes=region,
            rate=float(recording.get_sampling_frequency()),
            conversion=1e-6,
            description=f"{mode} traces in µV",
        )
    )


def load_nwb(path: str | Path) -> SpikeData:
    """Read units from an NWB file (written by :func:`export_to_nwb` or another tool).

    Spike times come back in ms; for files written by SpikeLab they are bit-identical to the
    exported ones (the sampling rate stored with them puts every spike back on its sample).
    """
    from pynwb import NWBHDF5IO

    from spikelab.spikedata import SpikeData

    path = Path(path)
    if not path.is_file():
        raise InputError(f"No NWB file at {path}.")
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        if nwbfile.units is None:
            raise InputError(f"{path} has no units table.")
        facts = json.loads(nwbfile.scratch[_FACTS].data) if _FACTS in nwbfile.scratch else {}
        units = nwbfile.units.to_dataframe()
        electrodes = nwbfile.electrodes.to_dataframe() if nwbfile.electrodes is not None else None
    fs = facts.get("fs_Hz")
    trains, attributes = [], []
    skip = {"spike_times", "obs_intervals", "electrodes", "waveform_mean", "unit_name"}
    for _, row in units.iterrows():
        seconds = np.asarray(row["spike_times"], dtype=np.float64)
        trains.append(_to_ms(seconds, fs))
        attributes.append(_attributes(row, skip))
    metadata: dict[str, Any] = {"source_format": "nwb"}
    if fs:
        metadata["fs_Hz"] = fs
    for key in ("curation_history", "rec_chunks_ms", "rec_chunk_names"):
        if facts.get(key) is not None:
            metadata[key] = facts[key]
    if electrodes is not None and {"rel_x", "rel_y"} <= set(electrodes.columns):
        metadata["channel_locations"] = electrodes[["rel_x", "rel_y"]].to_numpy(dtype=float)
    return SpikeData(
        trains, length=facts.get("length_ms"), start_time=facts.get("start_time_ms", 0.0),
        neuron_attributes=attributes, metadata=metadata,
    )


def _to_ms(seconds: np.ndarray, fs: float | None) -> np.ndarray:
    if fs:
        samples = np.rint(seconds * fs)
        if np.all(np.abs(samples / fs - seconds) < 0.25 / fs):
            return samples.astype(np.float64) / fs * 1000.0  # the pipeline's own formula
    return seconds * 1000.0


def _attributes(row, skip: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    name = row.get("unit_name")
    if name is not None:
        out["unit_id"] = int(name) if str(name).lstrip("-").isdigit() else name
    for key, value in row.items():
        if key in skip or value is None:
            continue
        if isinstance(value, (float, np.floating)) and not np.isfinite(value):
            continue
        out[key] = value.item() if isinstance(value, np.generic) else value
    if "channel" in out:
        out["channel"] = int(out["channel"])
    waveform = row.get("waveform_mean")
    if waveform is not None:
        out["template"] = np.asarray(waveform, dtype=np.float32).T
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
