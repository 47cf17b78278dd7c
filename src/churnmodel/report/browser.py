"""Load a page in headless Chromium: the DOM after load, console messages and a screenshot.

The report's check that the page is seen, not assumed (Debian package ``chromium``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from churnmodel.errors import ChurnModelError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """Path of a Chromium (or Chrome) binary on ``PATH``, or ``None``."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass(frozen=True)
class Rendered:
    """A page loaded in headless Chromium: the DOM after load, console lines, screenshot path."""

    dom: str
    console: list[str]
    screenshot: Path | None


_CONSOLE = re.compile(r":CONSOLE[:(]")


def render_in_chromium(page: str | Path, screenshot: str | Path | None = None,
                       window: tuple[int, int] = (1280, 4000), timeout: float = 120,
                       binary: str | None = None) -> Rendered:
    """Load ``page`` (a local HTML file) in headless Chromium.

    Returns the DOM after the load event (``--dump-dom``), every console message the page
    produced (``--enable-logging=stderr``: errors, uncaught exceptions, failed loads) and,
    with ``screenshot``, a PNG of the first ``window`` pixels. Raises
    :class:`ChurnModelError` when no Chromium is installed (Debian: ``apt-get install
    chromium``) or it fails.
    """
    exe = binary or find_chromium()
    if exe is None:
        raise ChurnModelError("no Chromium found (looked for " + ", ".join(CHROMIUM_NAMES)
                              + " on PATH); install it, e.g. `sudo apt-get install -y chromium`.")
    url = Path(page).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="churnmodel-chromium-") as profile:
        base = [exe, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
                "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
                "--enable-logging=stderr", "--v=0", f"--window-size={window[0]},{window[1]}"]
        dom = _run_chromium([*base, "--dump-dom", url], timeout)
        shot = None
        if screenshot is not None:
            shot = Path(screenshot).resolve()
            shot.parent.mkdir(parents=True, exist_ok=True)
            _run_chromium([*base, f"--screenshot={shot}", url], timeout)
            if not shot.exists():
                raise ChurnModelError(f"Chromium did not write the screenshot {shot}.")
    console = [ln for ln in dom.stderr.splitlines() if _CONSOLE.search(ln)]
    return Rendered(dom=dom.stdout, console=console, screenshot=shot)


def _run_chromium(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ChurnModelError(f"Chromium did not finish within {timeout:.0f}s: {' '.join(cmd)}") from None
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise ChurnModelError(f"Chromium exited with status {proc.returncode}:\n{tail}")
    return proc
