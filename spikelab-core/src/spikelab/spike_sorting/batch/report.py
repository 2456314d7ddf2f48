"""The batch report: ``batch_report.json``, ``batch_report.md``, ``batch_summary.png`` and an
``index.html`` linking every recording's ``sorting_report.html``.

Rewritten (atomically) every time a recording finishes, so a person can watch a long batch and
nothing is lost if the driver dies.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import attrs

from spikelab.atomic import atomic_open, dumps, write_text

SCHEMA_VERSION = 1
JSON_NAME = "batch_report.json"
MD_NAME = "batch_report.md"
PNG_NAME = "batch_summary.png"


@attrs.define
class Entry:
    """One recording of the batch."""

    name: str
    source: str
    results_folder: str
    status: str = "pending"
    n_units: int | None = None
    wall_time_s: float | None = None
    from_previous_run: bool = False
    error: str | None = None
    decisions: list[dict[str, Any]] = attrs.field(factory=list)


@attrs.define
class BatchReport:
    """What happened to every recording of a batch, and why."""

    folder: Path
    sorter: str
    entries: list[Entry]
    started: str = attrs.field(factory=lambda: dt.datetime.now().isoformat(timespec="seconds"))
    stopped_reason: str | None = None
    scheduler: str | None = None
    sorter_choice: str | None = None

    def decide(self, index: int, attempt: int, action: str, reason: str, status: str) -> None:
        self.entries[index].decisions.append(
            {"attempt": attempt, "status": status, "action": action, "reason": reason,
             "time": dt.datetime.now().isoformat(timespec="seconds")}
        )

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self.entries:
            counts[entry.status] = counts.get(entry.status, 0) + 1
        return dict(sorted(counts.items()))

    def write(self, *, figure: bool = False) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        doc = {
            "schema_version": SCHEMA_VERSION,
            "sorter": self.sorter,
            "sorter_choice": self.sorter_choice,
            "started": self.started,
            "updated": dt.datetime.now().isoformat(timespec="seconds"),
            "scheduler": self.scheduler,
            "stopped_reason": self.stopped_reason,
            "counts": self.counts(),
            "recordings": [attrs.asdict(entry) for entry in self.entries],
        }
        _atomic(self.folder / JSON_NAME, dumps(doc, indent=2))
        _atomic(self.folder / MD_NAME, self._markdown(figure))
        self._index()
        if figure:
            self._figure()
        return self.folder / JSON_NAME

    def _index(self) -> None:
        """``index.html``: every recording's status, linked to its ``sorting_report.html``."""
        from spikelab.spike_sorting.report import write_index

        write_index(self.folder, [
            {"rec_name": e.name, "status": e.status, "n_curated_units": e.n_units,
             "results_folder": e.results_folder, "error_class": e.error} for e in self.entries
        ], title=f"SpikeLab batch ({self.sorter}): {len(self.entries)} recordings")

    def _markdown(self, figure: bool) -> str:
        lines = [
            f"# Batch report ({self.sorter})",
            "",
            f"Started {self.started}; {len(self.entries)} recordings: "
            + ", ".join(f"{n} {status}" for status, n in self.counts().items())
            + ".",
            "",
        ]
        if self.sorter_choice:
            lines += [f"Why this sorter: {self.sorter_choice}", ""]
        if self.stopped_reason:
            lines += [f"**Stopped submitting new work:** {self.stopped_reason}", ""]
        if figure or (self.folder / PNG_NAME).is_file():
            lines += [f"![units and wall time per recording]({PNG_NAME})", ""]
        lines += ["| recording | status | units | wall time (s) | submissions | last decision |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for entry in self.entries:
            last = (
                entry.decisions[-1]["reason"]
                if entry.decisions
                else ("results from a previous run" if entry.from_previous_run else "")
            )
            lines.append(
                f"| {entry.name} | {entry.status} | {'' if entry.n_units is None else entry.n_units} | "
                f"{'' if entry.wall_time_s is None else f'{entry.wall_time_s:.1f}'} | {len(entry.decisions)} | {last} |"
            )
        return "\n".join(lines) + "\n"

    def _figure(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        colours = {"success": "tab:green", "not_sortable": "tab:gray", "environment": "tab:red"}
        names = [e.name for e in self.entries]
        fig, (ax_units, ax_time) = plt.subplots(2, 1, figsize=(max(6, 0.35 * len(names) + 2), 6), sharex=True)
        x = range(len(names))
        ax_units.bar(x, [e.n_units or 0 for e in self.entries],
                     color=[colours.get(e.status, "tab:orange") for e in self.entries])
        ax_units.set_ylabel("curated units")
        ax_units.set_title("Units per recording (green: sorted, grey: not sortable, orange/red: failed)")
        ax_time.bar(x, [e.wall_time_s or 0 for e in self.entries], color="tab:blue")
        ax_time.set_ylabel("wall time (s)")
        ax_time.set_xticks(list(x), names, rotation=60, ha="right", fontsize=8)
        fig.tight_layout()
        with atomic_open(self.folder / PNG_NAME) as handle:
            fig.savefig(handle, dpi=100, format="png")
        plt.close(fig)


def _atomic(path: Path, text: str) -> None:
    write_text(path, text)
