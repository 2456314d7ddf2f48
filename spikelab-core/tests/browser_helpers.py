"""Headless Chromium (Debian's ``chromium`` package) loading a page, for the HTML report tests.

``load_page`` returns the DOM after scripts ran, the browser's console messages (Chromium logs
them to stderr with ``--enable-logging=stderr``) and, on request, a screenshot. Tests skip, with
the reason, only when no Chromium can be found; ``.ci/run`` installs it on CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import attrs
import pytest

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: A console message as Chromium logs it: ``[...:INFO:CONSOLE:191] "text", source: file:///... (191)``.
_CONSOLE = re.compile(r"CONSOLE[:(]\d+\)?\] (?P<message>.*)")


def find_chromium() -> str | None:
    """``$SPIKELAB_CHROMIUM``, else the first Chromium on ``PATH``."""
    explicit = os.environ.get("SPIKELAB_CHROMIUM")
    if explicit:
        return explicit
    return next((found for name in _NAMES if (found := shutil.which(name))), None)


def require_chromium() -> str:
    found = find_chromium()
    if found is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set SPIKELAB_CHROMIUM); "
                    ".ci/run installs it on CI")
    return found


@attrs.frozen
class Page:
    dom: str
    console: list[str]
    log: str


def _run(chromium: str, page: Path, *extra: str, profile: Path, fragment: str = "") -> subprocess.CompletedProcess:
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--disable-extensions",
            # no network: anything the page tried to fetch would fail and log a console error
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--enable-logging=stderr", "--v=0",
            f"--user-data-dir={profile}", "--virtual-time-budget=5000", *extra, page.resolve().as_uri() + fragment]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def load_page(
    page: Path, *, fragment: str = "", screenshot: Path | None = None, width: int = 1280, height: int = 1600
) -> Page:
    """Open ``page`` (plus ``fragment``, e.g. ``"#removed"``) in headless Chromium.

    Returns the DOM after scripts ran and the console messages; writes a screenshot when asked.
    """
    chromium = require_chromium()
    profile = page.parent / ".chromium-profile"
    done = _run(chromium, page, "--dump-dom", profile=profile, fragment=fragment)
    if done.returncode != 0 and not done.stdout:
        raise AssertionError(f"chromium failed ({done.returncode}):\n{done.stderr[-3000:]}")
    if screenshot is not None:
        shot = _run(chromium, page, f"--screenshot={screenshot.resolve()}", f"--window-size={width},{height}",
                    "--hide-scrollbars", profile=profile, fragment=fragment)
        assert screenshot.is_file(), f"no screenshot written:\n{shot.stderr[-3000:]}"
    shutil.rmtree(profile, ignore_errors=True)
    console = [m.group("message") for line in done.stderr.splitlines() if (m := _CONSOLE.search(line))]
    return Page(dom=done.stdout, console=console, log=done.stderr)
