"""Check in headless Chromium that the in-silico page works: it draws a brain map, and choosing
another target (and a later frame) redraws it.

    python scripts/check_insilico_page.py --page results/synthetic/insilico.html \\
        [--screenshot results/synthetic/insilico_page.png]

Needs Debian's `chromium` and `chromium-driver` and the `selenium` package (as check_report.py).
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.browser import browser_available, open_browser
from sbm.cli import Command, arg, run
from sbm.io.errors import InputError


def check_page(page: str | Path, screenshot: str | Path | None = None) -> dict:
    """Open `page`, read the SBM map's pixels, choose the last target at a perturbed frame, read
    them again. Returns the number of targets offered and whether the map changed; raises
    AssertionError when the page shows no map or reports a script error."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = open_browser(1300, 900)
    try:
        driver.get(Path(page).resolve().as_uri())
        pixels = "return document.getElementById('map-sbm').toDataURL()"
        before = driver.execute_script(pixels)
        blank = driver.execute_script(
            "const c = document.createElement('canvas'); const m = document.getElementById('map-sbm');"
            "c.width = m.width; c.height = m.height; return c.toDataURL()"
        )
        if before == blank:
            raise AssertionError(f"{page}: the brain map is blank")
        target = Select(driver.find_element(By.ID, "target"))
        target.select_by_index(len(target.options) - 1)
        driver.execute_script("document.getElementById('target').dispatchEvent(new Event('change'))")
        after = driver.execute_script(pixels)
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        if errors:
            raise AssertionError(f"{page}: script errors {errors}")
        if screenshot:
            driver.save_screenshot(str(screenshot))
        return {"targets": len(target.options), "map_changed": after != before}
    finally:
        driver.quit()


@dataclass(kw_only=True)
class Args(Command):
    page: Path = arg("the in-silico page (insilico_page.py)")
    screenshot: Path | None = arg("PNG: what the browser showed after choosing a target", None)


def main(args: Args) -> None:
    if not browser_available():
        raise InputError(args.page, "cannot be opened: needs chromium, chromedriver and selenium")
    result = check_page(args.page, args.screenshot)
    print(f"{result['targets']} targets; the map changed when another was chosen: {result['map_changed']}")
    if not result["map_changed"]:
        raise InputError(args.page, "choosing another target did not change the brain map")


if __name__ == "__main__":
    sys.exit(run(main, Args))
