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
from sbm.io.chen import chen_folder
from sbm.io.contracts import GROUND_TRUTH, PROBS, Connectome, open_checked, write_result
from sbm.io.errors import InputError


def neuron_populations(probs_path, truth_path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Each probs neuron's true population (through cell_id), the true wiring and the names."""
    with open_checked(probs_path, PROBS, require=("cell_id",)) as f:  # to match neurons with the ground truth
        cell_id = f["cell_id"][()]
    with open_checked(truth_path, GROUND_TRUTH) as g:
        where = {int(c): i for i, c in enumerate(g["cell_id"][()])}
        missing = [int(c) for c in cell_id if int(c) not in where]
        if missing:
            raise InputError(
                truth_path,
                f"{len(missing)} neurons of {probs_path} (cell_id {missing[:3]} ...) are not in the ground truth",
            )
        population = g["population"][()][[where[int(c)] for c in cell_id]]
        wiring = g["connectivity"][()]
        names = [str(n) for n in g.attrs.get("population_names", range(len(wiring)))]
    if wiring.shape != (len(names), len(names)) or population.max() >= len(names):
        raise InputError(truth_path, f"connectivity {wiring.shape} does not match {len(names)} populations")
    return population, wiring, names


@dataclass(kw_only=True)
class Args(Evaluation):
    truth: list[Path] = arg("the simulator's ground_truth.h5 of each held-out fish, in the split's order")
    windows: int = arg("evenly spaced held-out windows whose attention is read", 16)
    out: Path = arg("JSON: the AUROCs and matrices")


def main(args: Args) -> None:
    heldout, paths, model, _ = load_evaluation(args)
    truth = {chen_folder(t).name: t for t in args.truth}  # <raw>/<subject>/ground_truth.h5
    if sorted(truth) != sorted(heldout):
        raise InputError(args.truth[0], f"ground truth given for {sorted(truth)}, the held-out fish are {heldout}")
    per_subject = {}
    for subject, probs in zip(heldout, paths):
        population, wiring, names = neuron_populations(probs, truth[subject])
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
