"""Opening the report in a real headless Chromium (Playwright for Python, the system's browser).

Used by the browser test (``tests/test_browser.py``) and by ``benchmarks/report_open.py``, which
measures the report's size and open time. Playwright (``pip install playwright``, a test extra)
drives the system Chromium (``apt-get install chromium``); its own browser download is not used.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium() -> str | None:
    """Path of a Chromium executable ($BLURFOCUS_CHROMIUM, Debian's /usr/bin/chromium, or on PATH)."""
    env = os.environ.get("BLURFOCUS_CHROMIUM")
    if env and Path(env).exists():
        return env
    for c in CANDIDATES:
        if Path(c).exists():
            return c
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing() -> str | None:
    """Why the browser cannot run here (None when it can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright, or pip install -e '.[test]')"
    if find_chromium() is None:
        return "no Chromium executable (apt-get install chromium, or set BLURFOCUS_CHROMIUM)"
    return None


def launch(playwright: Any) -> Any:
    """A headless Chromium browser from a ``sync_playwright()`` context."""
    return playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS, headless=True)


def measure_open(report: str | Path, screenshot: str | Path | None = None, repeats: int = 3,
                 viewport: tuple[int, int] = (1280, 900)) -> dict[str, Any]:
    """Open ``report`` from file:// ``repeats`` times in a fresh page each.

    Returns the file size (MB), per open the seconds from the start of navigation until the
    ``load`` event and until the map explorer has drawn its first panes (both as measured by the
    browser's performance clock), and every console error / page error.
    """
    from playwright.sync_api import sync_playwright

    path = Path(report).resolve()
    out: dict[str, Any] = {"file": str(path), "size_mb": path.stat().st_size / 1e6, "load_s": [], "ready_s": [],
                           "errors": []}
    with sync_playwright() as p:
        browser = launch(p)
        try:
            for r in range(repeats):
                page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
                page.on("console", lambda m: out["errors"].append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: out["errors"].append(str(e)))
                page.goto(path.as_uri(), wait_until="load")
                # times measured by the browser itself, from the start of navigation (ms)
                load = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
                out["load_s"].append(load / 1000)
                if page.locator("#bx").count():
                    page.wait_for_selector('#bx[data-ready="1"]', timeout=30_000)
                    drawn = float(page.get_attribute("#bx", "data-first-drawn-ms"))
                    out["ready_s"].append(max(load, drawn) / 1000)
                else:
                    out["ready_s"].append(load / 1000)
                if screenshot and r == 0:
                    page.screenshot(path=str(screenshot), full_page=True)
                page.close()
        finally:
            browser.close()
    return out
