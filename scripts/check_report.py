"""Check in headless Chromium that a Snakemake report shows every figure of the figure rules.

    snakemake --report results/synthetic/report.html
    python scripts/check_report.py results/synthetic/report.html --screenshots results/synthetic/report_screenshots
"""

import argparse
import sys

from sbm.cli import run
from sbm.report_check import browser_available, check_report

# Sidebar category -> the files the figure rules mark for it (workflow/rules/figures.smk, behavior.smk).
FIGURES = {
    "Figure 1: forecasts": ["fig1b_brain_maps.png", "fig1c_traces.png"],
    "Figure 2: evaluation": ["fig2a_calibration.png", "fig2b_context.png", "rollouts.png", "fig2d_fidelity.png", "next_step_table.html"],
    "Figure 3: behaviour": ["fig3a_behavior.png", "fig3b_behavior_space.png", "fig3c_pattern.png"],
}


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report")
    p.add_argument("--no-connectome", action="store_true", help="real data: the report has no connectome panel")
    p.add_argument("--screenshots", help="folder for one screenshot per figure")
    args = p.parse_args(argv)
    if not browser_available():
        sys.exit("needs chromium, chromedriver (Debian: chromium, chromium-driver) and selenium (pip install selenium)")
    expected = dict(FIGURES) if args.no_connectome else {**FIGURES, "Connectome": ["connectome.png"]}
    for name, width in check_report(args.report, expected, args.screenshots).items():
        print(f"shown: {name} " + (f"({width} px wide)" if name.endswith(".png") else f"({width} table cells)"))


if __name__ == "__main__":
    sys.exit(run(_main))
