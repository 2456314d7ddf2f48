"""Saving and loading :class:`~spikelab.SpikeData` as pickle or NPZ, atomically.

The NPZ layout needs no pickle to read (``allow_pickle=False``): spike times and units as two
flat arrays, ``raw_data`` / ``raw_time`` as arrays, every array-valued attribute as its own
entry (``meta/<key>``, ``unit/<index>/<key>``) and every other value in one JSON document.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spikelab.atomic import atomic_open
from spikelab.spikedata.errors import SpikeDataError

if TYPE_CHECKING:
    from spikelab.spikedata.spikedata import SpikeData

_FORMAT = "spikelab.spikedata/1"


def save(sd: SpikeData, path: str | Path) -> Path:
    """Write ``sd`` to ``path`` (``.pkl``/``.pickle`` or ``.npz``) via a temp file and rename.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".pkl", ".pickle", ".npz"}:
        raise SpikeDataError(f"Cannot tell the format of {path}: use a .pkl, .pickle or .npz suffix.")
    with atomic_open(path) as handle:
        if suffix == ".npz":
            np.savez(handle, **_to_arrays(sd))
        else:
            pickle.dump(sd, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return path


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"


def load(path: str | Path) -> SpikeData:
    """Read a SpikeData from what it was stored in, told by the content (not only the suffix).

    - ``.pkl``/``.pickle`` and ``.npz`` written by :func:`save`;
    - an NWB file (HDF5): :func:`spikelab.export.nwb.load_nwb`;
    - a phy folder (``params.py`` inside): :func:`spikelab.export.phy.load_phy`;
    - a SpikeInterface export or sorting folder: :func:`spikelab.export.spikeinterface.load_spikeinterface`.

    Raises
    ------
    SpikeDataError
        For a missing path, an HDF5 file that is not NWB, or a file of no format above.
    """
    from spikelab.spikedata.spikedata import SpikeData

    path = Path(path)
    if path.is_dir():
        if (path / "params.py").is_file():
            from spikelab.export.phy import load_phy

            return load_phy(path)
        if (path / "si_folder.json").is_file() or (path / "sorting" / "si_folder.json").is_file():
            from spikelab.export.spikeinterface import load_spikeinterface

            return load_spikeinterface(path)
        raise SpikeDataError(
            f"{path} is a folder but neither a phy folder (params.py) nor a SpikeInterface sorting folder "
            "(si_folder.json); pass a .pkl, .npz or .nwb file, or such a folder."
        )
    if not path.is_file():
        raise SpikeDataError(f"No SpikeData file at {path}.")
    with path.open("rb") as handle:
        head = handle.read(8)
    if head == _HDF5_SIGNATURE:
        return _load_hdf5(path)
    if head.startswith(_ZIP_SIGNATURE) and path.suffix.lower() != ".npz":
        raise SpikeDataError(f"{path} is a zip archive; SpikeData NPZ files must end in .npz.")
    if path.suffix.lower() != ".npz":
        if not head.startswith(b"\x80"):
            raise SpikeDataError(
                f"{path} is neither a SpikeData pickle, an NPZ, an NWB file nor a phy folder; "
                "SpikeData.load reads .pkl/.npz written by SpikeData.save, .nwb files and phy folders."
            )
        with path.open("rb") as handle:
            sd = pickle.load(handle)
        if not isinstance(sd, SpikeData):
            raise SpikeDataError(f"{path} holds a {type(sd).__name__}, not a SpikeData.")
        return sd
    with np.load(path, allow_pickle=False) as data:
        doc = json.loads(str(data["json"]))
        if doc.get("format") != _FORMAT:
            raise SpikeDataError(f"{path} is not a SpikeData NPZ (format {doc.get('format')!r}).")
        metadata = doc["metadata"]
        attributes = doc["neuron_attributes"]
        for key in data.files:
            if key.startswith("meta/"):
                metadata[key[5:]] = data[key]
            elif key.startswith("unit/"):
                _, index, name = key.split("/", 2)
                attributes[int(index)][name] = data[key]
        from spikelab.spikedata.construct import from_unit_indices

        raw = data["raw_data"]
        return from_unit_indices(
            data["spike_units"], data["spike_times"], N=doc["N"], length=doc["length"],
            start_time=doc["start_time"], neuron_attributes=attributes, metadata=metadata,
            raw_data=raw if raw.size else None, raw_time=data["raw_time"] if raw.size else None,
        )


def _load_hdf5(path: Path) -> SpikeData:
    import h5py

    with h5py.File(path, "r") as handle:
        is_nwb = "nwb_version" in handle.attrs
    if not is_nwb:
        raise SpikeDataError(
            f"{path} is an HDF5 file but not NWB; a recording (e.g. Maxwell .raw.h5) is sorted with "
            "spikelab.spike_sorting.sort_recording, not loaded as a SpikeData."
        )
    from spikelab.export.nwb import load_nwb

    return load_nwb(path)


def _to_arrays(sd: SpikeData) -> dict[str, Any]:
    arrays: dict[str, Any] = {
        "spike_times": np.concatenate(sd.train) if sd.N else np.zeros(0),
        "spike_units": np.repeat(np.arange(sd.N), [len(t) for t in sd.train]),
        "raw_data": sd.raw_data,
        "raw_time": sd.raw_time,
    }
    metadata: dict[str, Any] = {}
    for key, value in sd.metadata.items():
        _split(value, f"meta/{key}", key, metadata, arrays)
    attributes: list[dict[str, Any]] = []
    for index, unit in enumerate(sd.neuron_attributes):
        plain: dict[str, Any] = {}
        for key, value in unit.items():
            _split(value, f"unit/{index}/{key}", key, plain, arrays)
        attributes.append(plain)
    doc = {
        "format": _FORMAT, "N": sd.N, "length": sd.length, "start_time": sd.start_time,
        "metadata": metadata, "neuron_attributes": attributes,
    }
    arrays["json"] = np.array(json.dumps(doc, default=_json_default))
    return arrays


def _split(value: Any, array_key: str, key: str, plain: dict[str, Any], arrays: dict[str, Any]) -> None:
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise SpikeDataError(f"{array_key} is an object array, which NPZ cannot hold safely; save as .pkl instead.")
        arrays[array_key] = value
        return
    try:
        json.dumps(value, default=_json_default)
        plain[key] = value
    except (TypeError, ValueError):
        as_array = np.asarray(value)
        if as_array.dtype == object:
            raise SpikeDataError(
                f"{array_key} ({type(value).__name__}) cannot be stored in NPZ; save as .pkl instead."
            ) from None
        arrays[array_key] = as_array


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")
