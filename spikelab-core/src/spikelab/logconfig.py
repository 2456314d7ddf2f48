"""structlog set-up: one event per stage with key-value context, quiet by default."""

from __future__ import annotations

import logging
import os
import sys

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_configured = False


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when an event is written (a test's capture, a redirected CLI),
    not the stream that was current when logging was configured and may be closed since."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str | None = None, *, force: bool = False) -> None:
    """Render structlog events to stderr at ``level`` (``SPIKELAB_LOG_LEVEL``, default info)."""
    global _configured
    if _configured and not force:
        return
    name = (level or os.environ.get("SPIKELAB_LOG_LEVEL", "info")).lower()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S"),
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(name, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),
        cache_logger_on_first_use=False,
    )
    _configured = True
