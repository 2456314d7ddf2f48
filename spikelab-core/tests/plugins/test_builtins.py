"""Built-in plugins go through the same manager, and a fresh manager is isolated."""

from __future__ import annotations

from spikelab.plugins import DEFAULT_PLUGINS, SpikeLabPluginManager, hookimpl


def test_every_builtin_plugin_registers_without_error():
    manager = SpikeLabPluginManager(autoload=False)
    manager.load()
    broken = [info for info in manager.broken if info.name in DEFAULT_PLUGINS]
    assert broken == [], broken
    registered = {info.name for info in manager.plugin_info()}
    assert set(DEFAULT_PLUGINS) <= registered


def test_a_hand_registered_plugin_is_seen_after_caches_were_filled():
    manager = SpikeLabPluginManager(autoload=False)
    before = manager.commands()

    class ExtraCommand:
        @hookimpl
        def spikelab_register_commands(self, register):
            from spikelab.cli.commands import Command

            register(Command(name="hello", help="say hello", configure=lambda p: None, run=lambda a: 0))

    manager.register(ExtraCommand(), name="extra")
    assert "hello" not in before
    assert "hello" in manager.commands()
    manager.unregister("extra")
    assert "hello" not in manager.commands()
