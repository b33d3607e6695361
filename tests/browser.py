"""A real browser for the page tests: Debian's chromium, headless, driven by Selenium through Debian's
chromium-driver (nothing downloaded: the driver's path is given, so Selenium Manager is never asked).
Screenshots go to ``$RECONCILER_TEST_ARTIFACTS/status-page/`` (default: ``.artifacts/status-page/`` in
the repository, ignored by git: pytest's own tmp dirs are rotated away after three runs), and the test
prints where. Test helper."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS_ENV = "RECONCILER_TEST_ARTIFACTS"

if TYPE_CHECKING:  # selenium is imported when a browser starts
    from selenium.webdriver import Chrome


REPO = Path(__file__).resolve().parent.parent


def artifacts_dir() -> Path:
    """Where a test keeps its screenshots: ``$RECONCILER_TEST_ARTIFACTS/status-page``, else the repository's
    ``.artifacts/status-page``."""
    base = Path(os.environ.get(ARTIFACTS_ENV) or REPO / ".artifacts")
    folder = base / "status-page"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium(profile: Path, width: int = 1400, height: int = 1600) -> Iterator[Chrome]:
    """A headless chromium (its profile under ``profile``), quit afterwards."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("chromium and chromium-driver are not installed (scripts/install-system.sh installs them)",
                    pytrace=False)  # fmt: skip
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium.webdriver import Chrome, ChromeOptions
    from selenium.webdriver.chrome.service import Service

    options = ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", f"--window-size={width},{height}",
                f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(arg)
    driver = Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()


def full_screenshot(driver: Chrome, path: Path, width: int = 1400) -> Path:
    """The whole page as a PNG (the window grown to the page's height, at most 12,000 pixels)."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(width, min(max(height + 100, 600), 12000))
    driver.save_screenshot(str(path))
    return path
