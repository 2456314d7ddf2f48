"""A typed façade over pluggy: application code never touches ``pm.hook`` directly."""

from __future__ import annotations

import functools
import importlib
import importlib.metadata as importlib_metadata
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pluggy
import structlog

from spikelab.plugins import hookspecs
from spikelab.plugins.hookspecs import PROJECT_NAME

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

    from spikelab.cli.commands import Command
    from spikelab.spike_sorting._exceptions import SpikeSortingClassifiedError
    from spikelab.spike_sorting.backend import SorterBackend, SortJob
    from spikelab.spike_sorting.config import RecordingConfig, SortingPipelineConfig
    from spikelab.spike_sorting.guards.base import Watchdog, WatchdogFactory
    from spikelab.spikedata.metrics import CurationMetric

log = structlog.get_logger("spikelab.plugins")

ENV_DISABLE_AUTOLOAD = "SPIKELAB_DISABLE_PLUGIN_AUTOLOAD"
ENV_DISABLED_PLUGINS = "SPIKELAB_DISABLED_PLUGINS"
#: Set by the pytest plugin so child processes (sorters, Dask workers) see the test kit's plugins.
ENV_TEST_PLUGINS = "SPIKELAB_TEST_PLUGINS"
TEST_PLUGINS: tuple[str, ...] = ("spikelab.testing.fake_backend",)


@attrs.frozen
class PluginInfo:
    """What ``spikelab plugins`` shows about one plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]
    error: str | None = None


def _disabled_names() -> set[str]:
    raw = os.environ.get(ENV_DISABLED_PLUGINS, "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


#: Name of the built-in plugin that consults each backend's declared ``classifier``.
BACKEND_CLASSIFIERS = "spikelab.backend_classifiers"


class _BackendClassifiers:
    """The backends' own classifiers, as the first implementation of ``spikelab_classify_failure``."""

    def __init__(self, manager: SpikeLabPluginManager) -> None:
        self._manager = manager

    @pluggy.HookimplMarker(PROJECT_NAME)(tryfirst=True)
    def spikelab_classify_failure(self, sorter: str, output_folder: Path, exc: BaseException):
        backend = self._manager.sorters().get(sorter)
        if backend is None or backend.classifier is None:
            return None
        return backend.classifier(Path(output_folder), exc)


class SpikeLabPluginManager:
    """SpikeLab's plugin manager.

    Discovery is lazy (on first use), idempotent and defensive: the built-in plugins of
    :data:`spikelab.plugins.DEFAULT_PLUGINS` and every ``spikelab`` entry point are loaded once;
    a plugin that fails to import or register is reported in :attr:`broken` and skipped.

    Parameters
    ----------
    autoload : bool, default: True
        Load entry-point plugins. ``SPIKELAB_DISABLE_PLUGIN_AUTOLOAD=1`` turns this off globally.
    builtins : bool, default: True
        Register the built-in plugins.
    """

    def __init__(self, *, autoload: bool = True, builtins: bool = True) -> None:
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._autoload = autoload and not _truthy(os.environ.get(ENV_DISABLE_AUTOLOAD))
        self._builtins = builtins
        self._loaded = False
        self._lock = threading.RLock()
        self._distributions: dict[str, tuple[str | None, str | None]] = {}
        self._cache: dict[str, Any] = {}
        self.broken: list[PluginInfo] = []

    # -- discovery -------------------------------------------------------------------------
    def load(self) -> SpikeLabPluginManager:
        """Load built-ins and entry points once; later calls do nothing."""
        with self._lock:
            if self._loaded:
                return self
            self._loaded = True
            disabled = _disabled_names()
            if self._builtins:
                from spikelab.plugins import DEFAULT_PLUGINS

                extra = TEST_PLUGINS if _truthy(os.environ.get(ENV_TEST_PLUGINS)) else ()
                self._register_guarded(BACKEND_CLASSIFIERS, functools.partial(_BackendClassifiers, self))
                for module_name in (*DEFAULT_PLUGINS, *extra):
                    self._register_guarded(module_name, functools.partial(importlib.import_module, module_name))
            if self._autoload:
                for entry_point in importlib_metadata.entry_points(group=PROJECT_NAME):
                    if entry_point.name in disabled:
                        log.info("plugin_disabled", plugin=entry_point.name)
                        continue
                    dist = getattr(entry_point, "dist", None)
                    self._distributions[entry_point.name] = (
                        getattr(dist, "name", None),
                        getattr(dist, "version", None),
                    )
                    self._register_guarded(entry_point.name, entry_point.load)
            self._pm.check_pending()
            return self

    def _register_guarded(self, name: str, loader: Callable[[], object]) -> None:
        if self._pm.has_plugin(name) or name in _disabled_names():
            return
        try:
            plugin = loader()
            self._pm.register(plugin, name=name)
            try:
                self._pm.check_pending()  # a misspelled hook name is caught here, per plugin
            except Exception:
                self._pm.unregister(name=name)
                raise
        except Exception as exc:  # a broken plugin never takes the others down
            dist, version = self._distributions.get(name, (None, None))
            self.broken.append(
                PluginInfo(name, dist, version, (), error=f"{type(exc).__name__}: {exc}")
            )
            log.warning("plugin_broken", plugin=name, error=f"{type(exc).__name__}: {exc}")

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object or module by hand (tests, notebooks); registering the same
        object under the same name again does nothing."""
        self.load()
        if name is not None and self._pm.get_plugin(name) is plugin:
            return
        self._pm.register(plugin, name=name)
        self._pm.check_pending()
        self._cache.clear()

    def unregister(self, name: str) -> None:
        """Remove a plugin registered under ``name``."""
        self.load()
        self._pm.unregister(name=name)
        self._cache.clear()

    @property
    def hook(self) -> pluggy.HookRelay:
        """The raw hook relay (for the plugin system's own tests)."""
        return self.load()._pm.hook

    # -- collections -----------------------------------------------------------------------
    def _collect(self, hook_name: str) -> list[Any]:
        with self._lock:
            if hook_name not in self._cache:
                items: list[Any] = []
                getattr(self.hook, hook_name)(register=items.append)
                self._cache[hook_name] = items
            return list(self._cache[hook_name])

    def sorters(self) -> dict[str, SorterBackend]:
        """All installed sorter backends by name."""
        return {backend.name: backend for backend in self._collect("spikelab_register_sorters")}

    def sorter(self, name: str) -> SorterBackend:
        """The backend called ``name``.

        Raises
        ------
        UnknownSorterError
            Naming the installed sorters, close matches and, for a known backend that is not
            installed, the ``pip install`` that provides it.
        """
        from spikelab.plugins._provided import provided_names
        from spikelab.spike_sorting._exceptions import UnknownSorterError

        backends = self.sorters()
        if name not in backends:
            missing = self.unavailable(name, f"Sorter {name!r}")
            raise UnknownSorterError.for_name(name, sorted(backends), missing, provided_names())
        return backends[name]

    def unavailable(self, name: str, what: str) -> str | None:
        """Why ``name`` (a sorter, preset or classifier no loaded plugin provides) is missing and
        how to fix it, from the providing distribution's metadata; None when no distribution is
        known to provide it.

        Parameters
        ----------
        name : str
            The missing name.
        what : str
            How the message starts (``"The KILOSORT2 preset"``).

        Returns
        -------
        str or None
            For instance ``"... is provided by spikelab-ks2, which is not installed: `pip install
            spikelab-ks2`."``
        """
        from spikelab.plugins._provided import provider_of

        provider = provider_of(name)
        if provider is None:
            return None
        dist, installed = provider
        if not installed:
            return f"{what} is provided by {dist}, which is not installed: `pip install {dist}`."
        self.load()
        errors = [info.error for info in self.broken if info.distribution == dist]
        if errors:
            reason = f"its plugin failed to load ({errors[0]}); fix that, e.g. `pip install --force-reinstall {dist}`"
        elif not self._autoload:
            reason = f"plugin autoloading is off ({ENV_DISABLE_AUTOLOAD} or autoload=False)"
        else:
            reason = f"its plugin is not loaded (disabled by {ENV_DISABLED_PLUGINS}, or unregistered)"
        return (
            f"{what} is provided by {dist}, which is installed but {reason}. `spikelab plugins` lists what is loaded."
        )

    def presets(self) -> dict[str, Callable[[], SortingPipelineConfig]]:
        """Preset factories contributed by the installed backends, by preset name."""
        found: dict[str, Callable[[], SortingPipelineConfig]] = {}
        for backend in self.sorters().values():
            found.update(backend.presets)
        return found

    def curation_metrics(self) -> dict[str, CurationMetric]:
        """Curation metrics by the ``curate()`` parameter name that selects them."""
        return {metric.param: metric for metric in self._collect("spikelab_register_metrics")}

    def watchdog_factories(self) -> list[WatchdogFactory]:
        """Every registered watchdog factory."""
        return self._collect("spikelab_register_watchdogs")

    def commands(self) -> dict[str, Command]:
        """Command-line sub-commands by name."""
        return {command.name: command for command in self._collect("spikelab_register_commands")}

    # -- first-result hooks ----------------------------------------------------------------
    def classify_failure(
        self, sorter: str, output_folder: Path, exc: BaseException, log_text: str = ""
    ) -> SpikeSortingClassifiedError | None:
        """Classify a failure through the ``spikelab_classify_failure`` chain, ordered by pluggy:
        the named backend's own ``classifier`` (``tryfirst``), other plugins, then the generic
        signatures (``trylast``)."""
        return self.hook.spikelab_classify_failure(
            sorter=sorter, output_folder=Path(output_folder), exc=exc, log_text=log_text
        )

    def read_recording(self, source: Any, config: RecordingConfig) -> BaseRecording | None:
        """Open ``source`` with the first reader plugin that understands it."""
        return self.hook.spikelab_read_recording(source=source, config=config)

    def list_streams(self, source: Path) -> list[str] | None:
        """Stream ids of a multi-stream file, from the first reader that knows its format."""
        return self.hook.spikelab_list_streams(source=Path(source))

    def run_sort(
        self, backend: SorterBackend, job: SortJob, watchdogs: Sequence[Watchdog] = ()
    ) -> Path | None:
        """Run one sort through the ``spikelab_run_sort`` chain (wrappers included)."""
        return self.hook.spikelab_run_sort(backend=backend, job=job, watchdogs=list(watchdogs))

    # -- introspection ---------------------------------------------------------------------
    def plugin_info(self) -> list[PluginInfo]:
        """Name, distribution, version and implemented hooks of every plugin, broken ones last."""
        self.load()
        infos = []
        for name, plugin in self._pm.list_name_plugin():
            if plugin is None:
                continue
            hooks = tuple(sorted(caller.name for caller in self._pm.get_hookcallers(plugin) or ()))
            dist, version = self._distributions.get(
                name, ("spikelab-core", distribution_version("spikelab-core", None))
            )
            infos.append(PluginInfo(name, dist, version, hooks))
        return sorted(infos, key=lambda info: info.name) + list(self.broken)


def distribution_version(name: str, default: str | None = "0+unknown") -> str | None:
    """Installed version of distribution ``name`` (``default`` when it is not installed, e.g. a
    plugin imported from a source tree). Plugins report it as ``SorterBackend.version``."""
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        return default


_GLOBAL: SpikeLabPluginManager | None = None
_GLOBAL_LOCK = threading.Lock()


def get_plugin_manager() -> SpikeLabPluginManager:
    """The process-wide plugin manager, created and loaded on first use."""
    global _GLOBAL
    with _GLOBAL_LOCK:
        if _GLOBAL is None:
            _GLOBAL = SpikeLabPluginManager()
        return _GLOBAL.load()


def set_plugin_manager(manager: SpikeLabPluginManager | None) -> SpikeLabPluginManager | None:
    """Swap the process-wide manager (for tests); returns the previous one."""
    global _GLOBAL
    with _GLOBAL_LOCK:
        previous, _GLOBAL = _GLOBAL, manager
        return previous


def plugin_manager_in_use(plugins: SpikeLabPluginManager | None = None) -> SpikeLabPluginManager:
    """``plugins`` when given, else the process-wide manager. Public entry points call it once, at
    the top, and pass the result down."""
    return plugins if plugins is not None else get_plugin_manager()
