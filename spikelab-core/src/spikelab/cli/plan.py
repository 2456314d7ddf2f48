"""``spikelab sort``'s plan, printed before any long work: sorter and why, recordings, folders, disk."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spikelab.cli.console import Console
    from spikelab.spike_sorting.results import RecordingResult

GB = 1024**3


def sorter_choice(args: argparse.Namespace, overrides: dict[str, Any]) -> tuple[str, str]:
    """``(sorter, why)``: what will sort, and what chose it.

    Without ``--sorter``, ``--set sorter=`` or ``--preset``, ``sorter="auto"`` chooses from the
    recordings' headers (:mod:`spikelab.spike_sorting.sorter_choice`).
    """
    from spikelab.plugins import get_plugin_manager
    from spikelab.spike_sorting import sorter_choice as choice
    from spikelab.spike_sorting.config import get_preset

    asked = args.sorter or next((str(overrides[k]) for k in ("sorter", "sorter_name") if overrides.get(k)), None)
    if asked and asked != choice.AUTO:
        how = "--sorter" if args.sorter else "--set sorter="
        return asked, f"chosen with {how}"
    if args.preset and not asked:
        return get_preset(args.preset).sorter_name, f"from preset {args.preset}"
    picked = choice.choose_for_inputs(args.files, dict(overrides))
    installed = ", ".join(sorted(get_plugin_manager().sorters()))
    return picked.sorter, (f"sorter 'auto': {picked.reason}; choose another with --sorter NAME "
                           f"(installed: {installed})")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def show(console: Console, args: argparse.Namespace, config: Any, sorter: str, why: str) -> None:
    """Open the inputs' headers, resolve folders, estimate disk; print it all before sorting."""
    from spikelab.plugins import get_plugin_manager
    from spikelab.spike_sorting.folders import resolve_folders
    from spikelab.spike_sorting.guards._disk import free_bytes
    from spikelab.spike_sorting.guards._preflight_checks import disk_factor, recording_bytes
    from spikelab.spike_sorting.io import open_recording
    from spikelab.spike_sorting.stages import load

    console.say(f"spikelab sort: {sorter} ({why})")
    if console.quiet:
        return
    backend = get_plugin_manager().sorter(sorter)
    loaded = [open_recording(source, config.recording) for source in load.as_sources(args.files)]
    folders = resolve_folders([item.name for item in loaded], [item.source for item in loaded], backend.name,
                              args.intermediate, args.results)
    total_s, need = 0.0, 0.0
    console.say(f"  recordings: {len(loaded)}")
    for item, (inter, res) in zip(loaded, folders):
        recording = item.recording
        fs = recording.get_sampling_frequency()
        seconds = recording.get_total_duration()
        total_s += seconds
        need += recording_bytes(recording) * disk_factor(backend)
        console.say(f"    {item.name}: {recording.get_num_channels()} channels x {_duration(seconds)} at "
                    f"{fs / 1000:g} kHz ({item.source or 'in memory'})")
        console.say(f"      intermediate: {inter}")
        console.say(f"      results:      {res}")
    where = Path(folders[0][0]) if folders else Path.cwd()
    console.say(f"  disk: about {need / GB:.2f} GB of intermediate files ({free_bytes(where) / GB:.1f} GB free "
                f"there); {_duration(total_s)} of recording in all")
    how = "on a Dask cluster" if args.workers or args.scheduler else "here"
    console.say(f"  sorting {how}; the sorter's log and report go to each results folder")


def summary(results: list[RecordingResult], elapsed_s: float) -> str:
    """One line: how many recordings succeeded, units kept, time, and where the first report is."""
    ok = [r for r in results if r.ok]
    units = sum(r.n_curated_units or 0 for r in ok)
    line = (f"done in {_duration(elapsed_s)}: {len(ok)}/{len(results)} recordings sorted, "
            f"{units} units kept")
    pages = [Path(r.results_folder) / "sorting_report.html" for r in ok]
    pages = [p for p in pages if p.is_file()]
    if pages:
        line += f"; report: {pages[0]}" + (f" (+{len(pages) - 1} more)" if len(pages) > 1 else "")
    return line
