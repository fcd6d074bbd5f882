"""Find and launch the system's Chromium through Playwright.

Playwright's own browser download is never used (``playwright install`` needs
a network the course does not assume): the test drives the distribution's
Chromium, which ``.ci/run`` installs with the system package manager.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

# Quiet, offline, no sandbox (CI runs as root): nothing phones home while a test runs.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

_ON_PATH = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Where macOS and Windows install Chrome or Chromium (students' laptops).
_INSTALLED = (
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    os.path.join(
        os.environ.get("PROGRAMFILES", "C:\\Program Files"),
        "Google",
        "Chrome",
        "Application",
        "chrome.exe",
    ),
)


def find_chromium() -> str | None:
    """Path of a Chromium-family browser: $COURSE_CHROMIUM, /usr/bin/chromium, PATH, or the
    usual install folders of macOS and Windows."""
    explicit = os.environ.get("COURSE_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    for name in _ON_PATH:
        found = shutil.which(name)
        if found:
            return found
    return next((path for path in _INSTALLED if Path(path).exists()), None)


def missing_reason() -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -r requirements.txt)"
    if find_chromium() is None:
        return (
            "no Chromium found (install the 'chromium' package, or set COURSE_CHROMIUM "
            "to a Chromium or Chrome executable)"
        )
    return None


def launch(playwright: Any, headless: bool = True) -> Any:
    """Start the system Chromium; raises RuntimeError with the reason if it cannot."""
    reason = missing_reason()
    if reason:
        raise RuntimeError(reason)
    return playwright.chromium.launch(
        executable_path=find_chromium(), headless=headless, args=CHROMIUM_ARGS, timeout=60_000
    )
