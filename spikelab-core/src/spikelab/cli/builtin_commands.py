"""Built-in sub-commands, registered through the same hook as plugins' commands."""

from __future__ import annotations

from spikelab.cli import demo_command, export_command, plugins_command, report_command, sort_command
from spikelab.cli.commands import Command
from spikelab.plugins import hookimpl


@hookimpl
def spikelab_register_commands(register) -> None:
    register(
        Command(
            name="plugins",
            help="List installed plugins, their versions and hooks, and the sorters they provide.",
            configure=plugins_command.configure,
            run=plugins_command.run,
        )
    )
    register(
        Command(
            name="export",
            help="Export sorted units to phy, NWB or a SpikeInterface folder.",
            configure=export_command.configure,
            run=export_command.run,
        )
    )
    register(
        Command(
            name="sort",
            help="Sort recordings: spikelab sort FILES... [--sorter NAME (default kilosort4)] [--preset P] "
            "[--set key=value ...].",
            configure=sort_command.configure,
            run=sort_command.run,
        )
    )
    register(
        Command(
            name="report",
            help="Rebuild sorting_report.md, sorting_report.html and the figures from a results folder.",
            configure=report_command.configure,
            run=report_command.run,
        )
    )
    register(
        Command(
            name="demo",
            help="Sort a generated Maxwell recording with known units and print the accuracy.",
            configure=demo_command.configure,
            run=demo_command.run,
        )
    )
