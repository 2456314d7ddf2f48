"""Take sorted units elsewhere: phy for manual curation, NWB for archives, SpikeInterface folders.

Every exporter is built on the field's own tools (SpikeInterface's phy exporter and sorting
folders, pynwb) and carries unit positions, templates, quality metrics and the curation history.
Every loader reads back what a person changed (phy) or what was archived (NWB).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spikelab.spikedata import SpikeData

FORMATS = ("phy", "nwb", "spikeinterface")


def export(sd: SpikeData, to: str, path: str | Path, **kwargs: Any) -> Path:
    """Export ``sd`` as ``to`` (``"phy"``, ``"nwb"`` or ``"spikeinterface"``) at ``path``.

    Keyword arguments go to :func:`~spikelab.export.phy.export_to_phy`,
    :func:`~spikelab.export.nwb.export_to_nwb` or
    :func:`~spikelab.export.spikeinterface.export_to_spikeinterface`.
    """
    from spikelab.errors import InputError

    if to == "phy":
        from spikelab.export.phy import export_to_phy as writer
    elif to == "nwb":
        from spikelab.export.nwb import export_to_nwb as writer
    elif to == "spikeinterface":
        from spikelab.export.spikeinterface import export_to_spikeinterface as writer
    else:
        raise InputError(f"Unknown export format {to!r}; choose one of {FORMATS}.")
    return writer(sd, path, **kwargs)


__all__ = ["FORMATS", "export"]
