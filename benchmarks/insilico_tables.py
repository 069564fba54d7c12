"""Does a forecaster carry a perturbation from the targets to the rest of the brain as the true
wiring does? The in-silico experiments of `snakemake` (rule insilico) on the held-out fish.

Reads results/<dataset>/eval/insilico.json and prints, per forecaster, the mean response-map r and
responder AUROC over the experiments with their 95 % bootstrap ranges (simulated fish: against the
simulator's replay), the responders' sign agreement, and the behaviour effects; for every dataset,
the largest predicted responses.

    python benchmarks/insilico_tables.py results/synthetic
"""

import argparse
from pathlib import Path

import numpy as np

from sbm.io.contracts import Insilico, read_result


def table(rows: list[list]) -> str:
    lines = ["| " + " | ".join(map(str, rows[0])) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows[1:]])


def ranged(summary: dict) -> str:
    if summary["mean"] is None:
        return "none"
    return f"{summary['mean']:.2f} [{summary['low']:.2f}, {summary['high']:.2f}] (n {summary['n']})"


def score_rows(result: dict) -> list[list]:
    rows = [["forecaster", "map r [95 %]", "responder AUROC [95 %]", "sign agreement"]]
    for name, s in sorted(result["scores"].items(), key=lambda item: -(item[1]["auroc"]["mean"] or 0)):
        sign = "" if s["sign_agreement"] is None else f"{s['sign_agreement']:.2f}"
        rows.append([name, ranged(s["r"]), ranged(s["auroc"]), sign])
    return rows


def behavior_rows(result: dict) -> list[list]:
    rows = [
        [
            "behaviour",
            "r (SBM + PNM vs simulator drive)",
            "sign, top quarter",
            "largest simulator change",
            "simulator truth",
            "SBM",
        ]
    ]
    for name, b in result["behavior"].items():
        largest = b["largest_truth"]
        r = "none" if b["r"] is None else f"{b['r']:.2f}"
        sign = f"{b['sign_agreement_top_quarter']:.2f}"
        rows.append([name, r, sign, largest["experiment"], f"{largest['truth']:.3f}", f"{largest['sbm']:.3f}"])
    return rows


def strongest_rows(result: dict, shown: int = 5) -> list[list]:
    """The experiments whose SBM map moves most outside the targets."""
    size = lambda e: np.nanmax(np.abs(np.array(e["maps"]["sbm"], float)))  # noqa: E731
    rows = [["experiment", "SBM largest group response", "simulator truth largest"]]
    for e in sorted(result["experiments"], key=size, reverse=True)[:shown]:
        truth = np.nanmax(np.abs(np.array(e["maps"]["truth"], float))) if "truth" in e["maps"] else None
        truth = "" if truth is None else f"{truth:.4f}"
        rows.append([f"{e['subject']} {e['target']}:{e['kind']}", f"{size(e):.4f}", truth])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="results/<dataset>")
    args = parser.parse_args()
    result = read_result(args.results / "eval" / "insilico.json", Insilico)
    heldout, count = ", ".join(result["heldout"]), len(result["experiments"])
    print(f"Held-out fish {heldout}: {count} experiments on {result['targets']}")
    if result["scores"]:
        print("\nResponse maps against the simulator's replay\n\n" + table(score_rows(result)))
    if result["behavior"]:
        print("\nBehaviour: the PNMs reading the SBM's perturbed rollout against the simulator's motor drive\n")
        print(table(behavior_rows(result)))
    print("\nThe largest predicted responses outside the targets\n\n" + table(strongest_rows(result)))


if __name__ == "__main__":
    main()
