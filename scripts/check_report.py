"""Check in headless Chromium that a Snakemake report shows every figure of the figure rules.

    snakemake --report results/synthetic/report.html
    python scripts/check_report.py --report results/synthetic/report.html \
        --screenshots results/synthetic/report_screenshots

The report is one self-contained HTML file whose pages are drawn by JavaScript, so reading the
file is not enough: a browser must run it. For each category in the sidebar, each file listed is
opened with its eye button, and the image that appears must be that file, decoded (natural width
> 0); an HTML file (a table) must show table cells in its frame. Needs Debian's `chromium` and
`chromium-driver` and the `selenium` package (pip install -e ".[test]").
"""

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sbm.browser import browser_available, open_browser
from sbm.cli import Command, arg, run
from sbm.io.errors import InputError

# Sidebar category -> the files the figure rules mark for it (workflow/rules/figures.smk, behavior.smk,
# spikes.smk).
FIGURES = {
    "Figure 1: forecasts": ["fig1b_brain_maps.png", "fig1c_traces.png"],
    "Figure 2: evaluation": [
        "fig2a_calibration.png",
        "fig2b_context.png",
        "rollouts.png",
        "adapt.png",
        "fig2d_fidelity.png",
        "next_step_table.html",
    ],
    "Figure 3: behaviour": ["fig3a_behavior.png", "fig3b_behavior_space.png", "fig3c_pattern.png"],
    "In-silico optogenetics": ["insilico.png"],
    "Spike inference": ["spike_probabilities.png"],
}


def check_report(
    report: str | Path, categories: dict[str, list[str]], screenshots: str | Path | None = None, wait: float = 10.0
) -> dict[str, int]:
    """Open `report`, and in each category (sidebar name -> file names expected in it) show each
    file. Returns file name -> the image's width in pixels (PNG) or its number of table cells
    (HTML); raises AssertionError (or selenium's TimeoutException, with the message) naming what
    did not show. With `screenshots`, saves one PNG per file there."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    shown = {}
    driver = open_browser()
    try:
        for category, names in categories.items():
            for name in names:
                driver.get(Path(report).resolve().as_uri())
                until = WebDriverWait(driver, wait).until
                until(
                    lambda d: d.find_elements(By.XPATH, f"//a[contains(., '{category}')]"),
                    f"no category '{category}' in the sidebar",
                )
                driver.find_element(By.XPATH, f"//a[contains(., '{category}')]").click()
                rows = until(
                    lambda d: d.find_elements(By.XPATH, f"//tr[td[contains(., '{name}')]]"),
                    f"no entry {name} under '{category}'",
                )
                rows[0].find_element(By.XPATH, ".//a[@iconname='eye']").click()
                time.sleep(0.2)
                if name.endswith(".png"):
                    image = until(
                        lambda d: [
                            i
                            for i in d.find_elements(By.TAG_NAME, "img")
                            if f"filename={name}" in (i.get_attribute("src") or "")
                        ],
                        f"{name} was not displayed",
                    )[0]
                    width = driver.execute_script("return arguments[0].complete ? arguments[0].naturalWidth : 0", image)
                    if not width:
                        raise AssertionError(f"{name} is in the report but its image did not decode")
                    shown[name] = int(width)
                else:  # an HTML page (a table) is shown in a frame
                    frame = until(lambda d: d.find_elements(By.TAG_NAME, "iframe"), f"{name} was not displayed")[0]
                    driver.switch_to.frame(frame)
                    cells = until(lambda d: d.find_elements(By.TAG_NAME, "td"), f"{name} shows no table cells")
                    shown[name] = len(cells)
                    driver.switch_to.default_content()
                if screenshots:
                    Path(screenshots).mkdir(parents=True, exist_ok=True)
                    driver.save_screenshot(str(Path(screenshots) / f"{Path(name).stem}.png"))
    finally:
        driver.quit()
    return shown


@dataclass(kw_only=True)
class Args(Command):
    report: Path = arg("the report (snakemake --report <file>.html)")
    no_connectome: bool = arg("real data: the report has no connectome panel", False)
    screenshots: Path | None = arg("folder for one screenshot per figure", None)


def main(args: Args) -> None:
    if not browser_available():
        raise InputError(
            args.report,
            "cannot be opened: needs chromium, chromedriver (Debian: chromium, chromium-driver) and selenium",
        )
    expected = dict(FIGURES) if args.no_connectome else {**FIGURES, "Connectome": ["connectome.png"]}
    for name, width in check_report(args.report, expected, args.screenshots).items():
        print(f"shown: {name} " + (f"({width} px wide)" if name.endswith(".png") else f"({width} table cells)"))


if __name__ == "__main__":
    sys.exit(run(main, Args))
