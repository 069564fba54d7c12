"""The SBM's attention against the simulator's true wiring on the held-out fish (synthetic data only).

    python scripts/evaluate_connectome.py --weights results/synthetic/sbm/weights.pt \
        --split results/synthetic/split.yaml --heldout results/synthetic/probs/subject_4.h5 \
        --truth resources/synthetic/raw/subject_4/ground_truth.h5 --windows 16 --out connectome.json
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from sbm.cli import arg, run
from sbm.eval.connectome import attention_influence, auroc, chance_auroc, group_means, lagged_correlation
from sbm.eval.load import Evaluation, load_evaluation
from sbm.eval.truth import read_truth, truth_files
from sbm.io.contracts import Connectome, write_result


@dataclass(kw_only=True)
class Args(Evaluation):
    truth: list[Path] = arg("the simulator's ground_truth.h5 of each held-out fish, in the split's order")
    windows: int = arg("evenly spaced held-out windows whose attention is read", 16)
    out: Path = arg("JSON: the AUROCs and matrices")


def main(args: Args) -> None:
    heldout, paths, model, _ = load_evaluation(args)
    per_subject = {}
    for subject, probs, truth_path in zip(heldout, paths, truth_files(args.truth, heldout)):
        truth = read_truth(probs, truth_path, with_prob=False)
        population, wiring, names = truth.population, truth.wiring, truth.names
        G = len(names)
        attention = attention_influence(model, probs, population, G, args.windows)
        with h5py.File(probs, "r") as f:
            correlation = np.abs(lagged_correlation(group_means(f["prob"][()], population, G)))
        off = (
            ~np.eye(G, dtype=bool)
            & np.isin(np.arange(G), population)[:, None]
            & np.isin(np.arange(G), population)[None, :]
        )
        wired = wiring[off] != 0
        per_subject[subject] = {
            "auroc": {"attention": auroc(attention[off], wired), "lag1_correlation": auroc(correlation[off], wired)},
            "chance": chance_auroc(wired),
            "wired_pairs": int(wired.sum()),
            "pairs": int(off.sum()),
            "populations": names,
            "true_connectivity": wiring.tolist(),
            "attention": attention.tolist(),
            "lag1_correlation": correlation.tolist(),
        }
        logging.info("%s: AUROC %s, chance %s", subject, per_subject[subject]["auroc"], per_subject[subject]["chance"])
    mean = {k: float(np.mean([s["auroc"][k] for s in per_subject.values()])) for k in ("attention", "lag1_correlation")}
    write_result(
        args.out,
        {
            "auroc": mean,
            "chance": 0.5,
            "windows": args.windows,
            "per_subject": per_subject,
            "layout": "matrices are target x source, population level",
        },
        Connectome,
    )


if __name__ == "__main__":
    sys.exit(run(main, Args))
