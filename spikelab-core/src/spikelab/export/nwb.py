"""NWB: archive sorted units (and, on request, the traces) with pynwb; read them back.

The units table carries spike times (seconds, as NWB requires), the electrodes each unit sits on,
positions, the mean waveform, and every scalar quality metric; the electrodes table carries the
channel positions; the curation history and per-recording facts go into the file's scratch space
as JSON. A file written here reads back with bit-identical spike trains; :func:`load_nwb` (in
:mod:`spikelab.export._nwb_read`) also reads units written by other tools.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from spikelab.atomic import atomic_path, dumps
from spikelab.errors import InputError
from spikelab.export._common import curation_history, scalar_columns, templates
from spikelab.export._nwb_read import FACTS, load_nwb

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

    from spikelab.spikedata import SpikeData

log = structlog.get_logger("spikelab.export")


def export_to_nwb(
    sd: SpikeData,
    path: str | Path,
    recording: BaseRecording | str | Path | None = None,
    *,
    include_traces: str | None = None,
    metadata: dict[str, Any] | str | Path | None = None,
    session_description: str | None = None,
    session_start_time: dt.datetime | str | None = None,
    identifier: str | None = None,
    subject: dict[str, Any] | None = None,
    experimenter: str | list[str] | None = None,
    institution: str | None = None,
    lab: str | None = None,
    keywords: str | list[str] | None = None,
    session_id: str | None = None,
    experiment_description: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``sd`` to an NWB file.

    Parameters
    ----------
    sd : SpikeData
        Units to export; ``metadata["fs_Hz"]`` sets the units table's ``resolution`` and keeps
        spike times exact on reading.
    path : str or Path
        The ``.nwb`` file to write (atomically: a temporary name, then renamed).
    recording : BaseRecording, str or Path, optional
        Needed only with ``include_traces`` (see :func:`~spikelab.export.phy.export_to_phy` for
        paths and the default from the pipeline's metadata).
    include_traces : {None, "raw", "filtered"}, default: None
        Also store the traces as a gzip-compressed ElectricalSeries (``"filtered"``: 300-6000 Hz).
    metadata : dict, str or Path, optional
        neuroconv-style metadata, ``{"NWBFile": {...}, "Subject": {...}}``, or a YAML/JSON file
        holding it. The keyword arguments below override it key by key.
    session_description, session_start_time, identifier, experimenter, institution, lab, keywords, session_id, \
    experiment_description
        NWB file fields. The start time defaults to ``sd.metadata["session_start_time"]`` or
        now; ``experimenter`` and ``keywords`` take a list or a comma-separated string.
    subject : dict, optional
        ``pynwb.file.Subject`` fields (``subject_id``, ``species``, ``age``, ``sex``...). DANDI
        requires a subject; without one, nwbinspector reports a CRITICAL message.
    overwrite : bool, default: False
        Replace an existing file.

    Returns
    -------
    Path
        The file written. Its units table has ``resolution`` (1/fs), ``waveform_mean`` in volts
        with ``waveform_rate``, and per unit the ``electrodes`` its waveform spans (every channel)
        and its primary ``channel``.
    """
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject

    from spikelab.export import _nwb_metadata

    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"{path} already exists; pass overwrite=True (CLI: --overwrite) to replace it.")
    if include_traces not in (None, "raw", "filtered"):
        raise InputError(f"include_traces must be None, 'raw' or 'filtered', got {include_traces!r}.")
    explicit = {
        "session_description": session_description, "session_start_time": session_start_time,
        "identifier": identifier, "experimenter": experimenter, "institution": institution, "lab": lab,
        "keywords": keywords, "session_id": session_id, "experiment_description": experiment_description,
    }
    file_fields, subject_fields = _nwb_metadata.merge(metadata, explicit, subject)
    if include_traces:
        from spikelab.export._recording import resolve_recording

        recording = resolve_recording(sd, recording, purpose="Storing traces in NWB")
    file_fields.setdefault("session_description", "Spike-sorted units exported by SpikeLab")
    file_fields.setdefault("identifier", str(uuid.uuid4()))
    file_fields.setdefault("session_start_time", _start_time(sd))
    nwbfile = NWBFile(
        **file_fields,
        source_script="spikelab",
        source_script_file_name="spikelab.export.nwb",
        subject=Subject(**subject_fields) if subject_fields else None,
    )
    electrodes = _add_electrodes(nwbfile, sd)
    _add_units(nwbfile, sd, electrodes)
    _add_epochs(nwbfile, sd)
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
    nwbfile.add_scratch(dumps(facts), name=FACTS, description="SpikeLab metadata (JSON)")
    with atomic_path(path, suffix=".tmp.nwb") as tmp, NWBHDF5IO(str(tmp), "w") as io:  # pynwb wants .nwb
        io.write(nwbfile)
    log.info("exported", format="nwb", path=str(path), units=sd.N)
    return path


def _start_time(sd: SpikeData) -> dt.datetime:
    from spikelab.export._nwb_metadata import as_datetime

    value = sd.metadata.get("session_start_time")
    if value is not None:
        return as_datetime(value, "metadata['session_start_time']")
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
        nwbfile.add_electrode(
            rel_x=float(x), rel_y=float(y), group=group, location="unknown", channel_name=str(channel_id)
        )
    return len(locations)


def _add_units(nwbfile, sd: SpikeData, n_electrodes: int) -> None:
    from pynwb.misc import Units

    fs = sd.fs_Hz
    waveforms = templates(sd)
    if waveforms is not None and waveforms.shape[2] != n_electrodes:
        waveforms = None  # a waveform_mean must span the electrodes its row names
    nwbfile.units = Units(
        name="units",
        description="Units sorted and curated with SpikeLab",
        electrode_table=nwbfile.electrodes if n_electrodes else None,
        resolution=1.0 / fs if fs else None,
        waveform_rate=fs if waveforms is not None else None,
        waveform_unit="volts",
        waveform_time_before_peak_in_ms=float(sd.metadata.get("ms_before", 1.0)) if waveforms is not None else None,
    )
    columns = scalar_columns(sd)
    nwbfile.add_unit_column(name="unit_name", description="unit id given by the sorter")
    for name in columns:
        nwbfile.add_unit_column(name=name, description=_DESCRIPTIONS.get(name, f"SpikeLab per-unit value: {name}"))
    obs = [[sd.start_time / 1000.0, (sd.start_time + sd.length) / 1000.0]]
    for index in range(sd.N):
        row: dict[str, Any] = {
            "spike_times": np.asarray(sd.train[index], dtype=np.float64) / 1000.0,
            "unit_name": str(sd.unit_ids[index]),
            "obs_intervals": obs,
        }
        row.update({name: float(values[index]) for name, values in columns.items()})
        channel = sd.neuron_attributes[index].get("channel")
        if waveforms is not None:
            row["waveform_mean"] = (waveforms[index] * 1e-6).astype(np.float32)  # µV -> V
            row["electrodes"] = list(range(n_electrodes))
        elif n_electrodes and channel is not None and 0 <= int(channel) < n_electrodes:
            row["electrodes"] = [int(channel)]
        nwbfile.add_unit(**row)


def _add_epochs(nwbfile, sd: SpikeData) -> None:
    chunks = sd.metadata.get("rec_chunks_ms")
    if not chunks or len(chunks) < 2:
        return
    names = list(sd.metadata.get("rec_chunk_names") or [])
    for index, (start, end) in enumerate(chunks):
        tag = str(names[index]) if index < len(names) else f"file{index}"
        nwbfile.add_epoch(start_time=float(start) / 1000.0, stop_time=float(end) / 1000.0, tags=[tag])


def _add_traces(nwbfile, recording, mode: str, n_electrodes: int) -> None:
    from hdmf.backends.hdf5.h5_utils import H5DataIO
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
                start_frame=selection[0].start,
                end_frame=selection[0].stop,
                return_in_uV=recording.has_scaleable_traces(),
            )[:, selection[1]].astype(np.float32)

        def _get_maxshape(self):
            return (recording.get_num_samples(), recording.get_num_channels())

        def _get_dtype(self):
            return np.dtype("float32")

    region = nwbfile.create_electrode_table_region(list(range(n_electrodes)), "all channels")
    data = H5DataIO(
        _Traces(buffer_gb=0.1, display_progress=False), compression="gzip", compression_opts=4, shuffle=True
    )
    nwbfile.add_acquisition(
        ElectricalSeries(
            name=f"ElectricalSeries{mode.capitalize()}",
            data=data,
            electrodes=region,
            rate=float(recording.get_sampling_frequency()),
            conversion=1e-6,
            description=f"{mode} traces in µV (conversion 1e-6 to volts)",
        )
    )


_DESCRIPTIONS = {
    "x": "unit position on the array, x (µm)",
    "y": "unit position on the array, y (µm)",
    "channel": "primary channel: row of the electrodes table",
    "snr": "peak amplitude over noise on the primary channel",
    "firing_rate": "spikes per second over the recording",
    "n_spikes": "number of spikes",
}


__all__ = ["export_to_nwb", "load_nwb"]
