"""Per-recording outcomes: :class:`RecordingResult` and the exception raised after a batch."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from spikelab.spike_sorting._exceptions import STATUSES, status_of

if TYPE_CHECKING:
    from spikelab.spikedata import SpikeData


@attrs.define(kw_only=True)
class Attempt:
    """One try at sorting a recording (the OOM retry loop makes several)."""

    number: int
    params: dict[str, Any]
    status: str
    error_class: str | None = None
    error_message: str | None = None
    wall_time_s: float | None = None


@attrs.define(kw_only=True)
class RecordingResult:
    """What happened to one recording.

    Parameters
    ----------
    rec_name : str
        Short name of the recording (file stem or stream id).
    rec_path : str
        Where it came from.
    results_folder, intermediate_folder : str
        Where its results and intermediates are.
    status : str
        One of :data:`~spikelab.spike_sorting._exceptions.STATUSES`.
    error : BaseException, optional
        The (classified when possible) exception of a failure.
    result_key : str, optional
        What the result was made from (input and effective configuration); a resumed batch
        reuses the result only when this matches (see :func:`~spikelab.spike_sorting.batch.resume.result_key`).
    sorter_choice : str, optional
        With ``sorter="auto"``: which sorter it chose and the measurement that chose it.
    spike_data : list of SpikeData
        A success's curated SpikeData (one per file of a concatenated folder); kept in memory
        only (``spikedata_path`` is the saved copy).
    """

    rec_name: str
    rec_path: str
    results_folder: str | None = None
    intermediate_folder: str | None = None
    status: str = "success"
    error: BaseException | None = attrs.field(default=None, repr=False, eq=False)
    error_class: str | None = None
    error_message: str | None = None
    error_traceback: str | None = attrs.field(default=None, repr=False)
    wall_time_s: float | None = None
    stage_times_s: dict[str, float] = attrs.field(factory=dict)
    n_units: int | None = None
    n_curated_units: int | None = None
    retries_used: int = 0
    attempts: list[Attempt] = attrs.field(factory=list)
    log_path: str | None = None
    report_path: str | None = None
    spikedata_path: str | None = None
    cached_stages: list[str] = attrs.field(factory=list)
    result_key: str | None = None
    sorter_choice: str | None = None
    spike_data: list[SpikeData] = attrs.field(factory=list, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"Unknown status {self.status!r}; expected one of {STATUSES}.")

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def fail(self, error: BaseException) -> RecordingResult:
        """Record ``error`` as this recording's outcome."""
        self.error = error
        self.status = status_of(error)
        self.error_class = type(error).__name__
        self.error_message = str(error)[:2000]
        self.error_traceback = "".join(
            traceback.format_exception(type(error), error, error.__traceback__)
        )[-20000:]
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the exception object itself is left out)."""
        data = attrs.asdict(self, filter=lambda attribute, value: attribute.name not in ("error", "spike_data"))
        if self.error is not None and hasattr(self.error, "evidence"):
            data["error_evidence"] = {
                key: (str(value) if isinstance(value, Path) else value)
                for key, value in self.error.evidence().items()
            }
        return data
