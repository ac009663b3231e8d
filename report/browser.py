"""Open report.html in headless Chromium (Selenium + the system chromedriver): used by the
browser test and to take the README screenshot.

    python -m drawreason.report.browser DIR/report.html docs/report.png

Needs `selenium` (the `[dev]` extra) and Debian's `chromium` + `chromium-driver`
(.ci/run installs them). Selenium is given the driver's path, so it never downloads one.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> tuple[str | None, str | None]:
    """(browser, chromedriver) paths, or None for what is missing. CHROMIUM and CHROMEDRIVER
    environment variables override the search."""
    browser = os.environ.get("CHROMIUM") or next(
        (p for p in map(shutil.which, CHROMIUM_NAMES) if p), None
    )
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if driver is None and Path("/usr/lib/chromium/chromedriver").exists():
        driver = "/usr/lib/chromium/chromedriver"
    return browser, driver


def open_browser(width: int = 1400, height: int = 1000) -> Any:
    """A headless Chromium WebDriver that records the browser console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = find_chromium()
    if not browser or not driver:
        raise RuntimeError(
            "chromium and chromedriver are needed (apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI containers run as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--allow-file-access-from-files",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def console_errors(driver: Any) -> list[str]:
    """SEVERE browser console entries (uncaught errors, failed loads) since the last call,
    plus errors the page's own window.onerror hook caught."""
    errors = [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    caught = driver.execute_script("return window.__reportErrors || []") or []
    return errors + [f"window.onerror: {m}" for m in caught]


def wait_ready(driver: Any, timeout: float = 10) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script(
            "return document.body && document.body.dataset.ready === '1' && "
            "Array.from(document.images).every(i => i.complete)"
        )
    )


def screenshot(
    report: str, out: str, width: int = 1400, height: int = 1000, scroll_to_viewer: bool = False
) -> list[str]:
    """Save a screenshot of the report with the viewer on a rendered turn; returns console
    errors."""
    driver = open_browser(width, height)
    try:
        driver.get(Path(report).resolve().as_uri())
        wait_ready(driver)
        driver.execute_script(
            "document.getElementById('next').click(); document.getElementById('next').click();"
        )
        wait_ready(driver)
        if scroll_to_viewer:
            driver.execute_script(
                "var v=document.getElementById('viewer').getBoundingClientRect();"
                "window.scrollTo(0, Math.max(0, scrollY + v.bottom - innerHeight + 8));"
            )
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(out)
        return console_errors(driver)
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report")
    parser.add_argument("out")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--scroll-to-viewer", action="store_true")
    args = parser.parse_args()
    errors = screenshot(args.report, args.out, args.width, args.height, args.scroll_to_viewer)
    for error in errors:
        print("console error:", error)
    print(args.out)


if __name__ == "__main__":
    main()
