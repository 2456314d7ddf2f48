"""NWB file and subject metadata: from a YAML/JSON file with neuroconv's keys, then keywords.

A metadata file looks like neuroconv's::

    NWBFile:
      session_description: Cortical organoid, day 90
      experimenter: [Doe, Jane]
      institution: UC Santa Cruz
      keywords: [organoid, MEA]
      session_start_time: 2024-05-01T10:00:00-07:00
    Subject:
      subject_id: organoid-7
      species: Homo sapiens
      sex: U
      age: P90D

Keyword arguments (and the CLI's flags) override the file, key by key.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spikelab.errors import InputError

#: NWBFile fields a user may set (the rest are built by the exporter).
NWBFILE_KEYS = (
    "session_description", "identifier", "session_start_time", "experimenter", "experiment_description",
    "session_id", "institution", "lab", "keywords", "notes", "pharmacology", "protocol",
    "related_publications", "slices", "data_collection", "surgery", "virus", "stimulus_notes",
)
#: pynwb.file.Subject fields.
SUBJECT_KEYS = ("subject_id", "species", "sex", "age", "date_of_birth", "description", "genotype", "strain", "weight")
#: list fields a single string may give: split at commas ("experimenter" names hold a comma: never split)
_COMMA_LISTS = ("keywords", "related_publications")


def read_metadata_file(path: str | Path) -> dict[str, Any]:
    """``{"NWBFile": {...}, "Subject": {...}}`` from a ``.yaml``/``.yml`` or ``.json`` file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"NWB metadata file {path} does not exist.")
    text = path.read_text()
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
    except Exception as exc:
        raise InputError(f"Cannot read NWB metadata file {path}: {exc}") from exc
    if not isinstance(data, Mapping):
        raise InputError(f"{path} must hold a mapping with 'NWBFile' and/or 'Subject' sections.")
    unknown = sorted(set(data) - {"NWBFile", "Subject", "Ecephys"})
    if unknown:
        raise InputError(f"{path}: unknown section(s) {unknown}; use 'NWBFile' and 'Subject' (neuroconv's names).")
    return {"NWBFile": dict(data.get("NWBFile") or {}), "Subject": dict(data.get("Subject") or {})}


def merge(
    metadata: Mapping[str, Any] | str | Path | None, nwbfile: Mapping[str, Any], subject: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """File (or dict) metadata overridden by explicit values; checked and normalised.

    Returns
    -------
    nwbfile_fields, subject_fields : dict
        Keyword arguments for ``pynwb.NWBFile`` and ``pynwb.file.Subject`` (empty: no subject).
    """
    if isinstance(metadata, (str, Path)):
        metadata = read_metadata_file(metadata)
    metadata = dict(metadata or {})
    file_fields = dict(metadata.get("NWBFile") or {})
    file_fields.update({k: v for k, v in nwbfile.items() if v is not None})
    subject_fields = dict(metadata.get("Subject") or {})
    subject_fields.update({k: v for k, v in (subject or {}).items() if v is not None})
    _check(file_fields, NWBFILE_KEYS, "NWBFile")
    _check(subject_fields, SUBJECT_KEYS, "Subject")
    for key in _COMMA_LISTS:
        if isinstance(file_fields.get(key), str):
            file_fields[key] = [part.strip() for part in file_fields[key].split(",") if part.strip()]
    if isinstance(file_fields.get("experimenter"), str):
        file_fields["experimenter"] = [file_fields["experimenter"]]
    if "session_start_time" in file_fields:
        file_fields["session_start_time"] = as_datetime(file_fields["session_start_time"], "session_start_time")
    if "date_of_birth" in subject_fields:
        subject_fields["date_of_birth"] = as_datetime(subject_fields["date_of_birth"], "date_of_birth")
    return file_fields, subject_fields


def as_datetime(value: Any, name: str) -> dt.datetime:
    """A timezone-aware datetime (naive values are taken as UTC)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise InputError(f"{name}={value!r} is not an ISO date/time such as 2024-05-01T10:00:00-07:00.") from None
    if not isinstance(value, dt.datetime):
        raise InputError(f"{name} must be a date/time, got {type(value).__name__}.")
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _check(fields: Mapping[str, Any], allowed: tuple[str, ...], section: str) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise InputError(f"Unknown {section} metadata {unknown}; known keys: {', '.join(allowed)}.")
