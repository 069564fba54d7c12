"""Headless Chromium for the checks of what a user opens in a browser (the report, the in-silico
page): Debian's `chromium` and `chromium-driver`, driven by `selenium` (pip install -e ".[test]")."""

import importlib.util
import shutil

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser_available() -> bool:
    if importlib.util.find_spec("selenium") is None:
        return False
    return shutil.which("chromedriver") is not None and any(shutil.which(b) for b in BROWSERS)


def open_browser(width: int = 1400, height: int = 1000):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = next(shutil.which(b) for b in BROWSERS if shutil.which(b))
    for option in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ):
        options.add_argument(option)
    # The Debian driver on PATH: selenium would otherwise try to download one.
    return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
