"""Built-in sub-commands, registered through the same hook as plugins' commands."""

from __future__ import annotations

from spikelab.cli import export_command, plugins_command
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
