"""``spikelab sort FILES... --sorter NAME [--preset P] [--set key=value ...]``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from spikelab.errors import ConfigError


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """``["fr_min=0.1", "use_docker=true", "kilosort_path=/opt/ks"]`` -> typed values (JSON, else text).

    Raises
    ------
    ConfigError
        For an entry without ``=``, naming it and the expected form.
    """
    values: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair or not pair.split("=", 1)[0].strip():
            raise ConfigError(
                f"--set expects KEY=VALUE (for example --set {pair.strip('=') or 'fr_min'}=0.1), got {pair!r}."
            )
        key, raw = pair.split("=", 1)
        try:
            values[key.strip()] = json.loads(raw)
        except ValueError:
            values[key.strip()] = raw
    return values


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", help="Recording files or folders (a folder is concatenated).")
    parser.add_argument(
        "--sorter",
        help="Backend name (kilosort4, spykingcircus2, rt_sort, ...) or 'auto'; default: the preset's sorter, "
        "else 'auto' (the best measured installed sorter for the recording's array type, sampling rate and "
        "GPU). The first line of output names the sorter and why it was chosen.",
    )
    parser.add_argument("--preset", help="Start from this preset (KILOSORT4, RT_SORT_MEA, ...).")
    parser.add_argument(
        "--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
        help="Override a configuration knob by its flat name; repeatable (values are JSON or text).",
    )
    parser.add_argument("--intermediate", nargs="+", help="Intermediate folder per recording.")
    parser.add_argument("--results", nargs="+", help="Results folder per recording.")
    parser.add_argument(
        "--workers", type=int, help="Sort on a local Dask cluster of N worker processes (sort_batch)."
    )
    parser.add_argument(
        "--scheduler", metavar="ADDRESS", help="Sort on a running Dask cluster (tcp://host:8786) (sort_batch)."
    )


def run(args: argparse.Namespace) -> int:
    import time

    from spikelab.cli import plan
    from spikelab.cli.console import Console
    from spikelab.plugins import get_plugin_manager
    from spikelab.spike_sorting.api import build_config, run_recordings
    from spikelab.spike_sorting.config import get_preset

    start = time.perf_counter()
    console = Console.from_args(args)
    overrides = parse_assignments(args.assignments)
    batch = bool(args.workers or args.scheduler)
    overrides.update(console.overrides(overrides, batch=batch))
    config = get_preset(args.preset) if args.preset else None
    plugins = get_plugin_manager()
    asked = args.sorter or overrides.get("sorter") or overrides.get("sorter_name")
    auto = asked == "auto" or (not asked and config is None)
    sorter, why = plan.sorter_choice(args, overrides)
    plan_overrides = {k: v for k, v in overrides.items() if not (auto and k in ("sorter", "sorter_name"))}
    planned = build_config(sorter if auto else args.sorter, config, plan_overrides, plugins)
    plan.show(console, args, planned, sorter, why)
    # with "auto", the sort chooses again from the same headers and writes why into each report
    call_sorter = "auto" if auto else args.sorter
    if batch:
        from spikelab.spike_sorting import sort_batch

        results = sort_batch(
            args.files, sorter=call_sorter, config=config, workers=args.workers, scheduler=args.scheduler,
            intermediate_folders=args.intermediate, results_folders=args.results, plugins=plugins, **overrides,
        )
    else:
        # every recording's result is printed below, failures included (the exit status says)
        try:
            results = run_recordings(
                args.files, sorter=call_sorter, config=config, intermediate_folders=args.intermediate,
                results_folders=args.results, plugins=plugins, **overrides,
            )
        except Exception as exc:  # a preflight failure: every recording carries it
            results = list(getattr(exc, "results", None) or [])
            if not results:
                raise
    width = max(len(r.rec_name) for r in results)
    for result in results:
        units = "-" if result.n_curated_units is None else f"{result.n_curated_units} units"
        line = f"{result.rec_name:<{width}}  {result.status:<16} {units:<10} {result.results_folder}"
        if not result.ok:
            line += f"\n{'':<{width}}  {result.error_class}: {(result.error_message or '')[:300]}"
        console.summary(line)
    console.summary(plan.summary(results, time.perf_counter() - start))
    return 0 if all(r.ok for r in results) else 1
