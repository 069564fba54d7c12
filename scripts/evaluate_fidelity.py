"""Distributional fidelity of forecast brain states on the held-out fish: metrics and 2-D embeddings.

    python scripts/evaluate_fidelity.py --states results/synthetic/eval/next_step_states.h5 \
        --metrics fidelity.json --embedding embedding.csv
"""

import csv
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sbm.cli import Command, arg, run
from sbm.eval.fidelity import fidelity
from sbm.io.atomic import atomic_path
from sbm.io.contracts import NEXT_STEP_STATES, Fidelity, read_groups, write_result
from sbm.io.errors import InputError


def read_states(path) -> dict:
    """subject -> (frame, observed, {forecaster: states}) from evaluate_next_step.py's states file."""
    out = {}
    for subject, group in read_groups(path, NEXT_STEP_STATES).items():
        frame, observed = group.pop("frame"), group.pop("observed")
        for name, value in {"observed": observed, **group}.items():
            if value.shape != observed.shape or not np.isfinite(value).all():
                raise InputError(
                    path, f"{subject}/{name}: shape {value.shape} (observed {observed.shape}) or non-finite values"
                )
        if len(observed) < 10:
            raise InputError(path, f"{subject}: {len(observed)} states; at least 10 are needed")
        out[subject] = (frame, observed, group)
    return out


@dataclass(kw_only=True)
class Args(Command):
    states: Path = arg("next_step_states.h5 (evaluate_next_step.py)")
    components: int = arg("principal components the metrics are computed in", 50)
    seed: int = arg("seeds the classifier's folds and UMAP", 0)
    metrics: Path = arg("JSON: energy distance and classifier accuracy per forecaster")
    embedding: Path = arg("CSV: subject, method, source, frame, x, y")


def main(args: Args) -> None:
    per_subject, rows = {}, []
    for subject, (frame, observed, forecasts) in read_states(args.states).items():
        per_subject[subject], coords, shown = fidelity(observed, forecasts, args.components, seed=args.seed)
        for method, by_source in coords.items():
            for source, xy in by_source.items():
                rows += [(subject, method, source, int(t), float(x), float(y)) for t, (x, y) in zip(frame[shown], xy)]
        logging.info("%s: %s", subject, per_subject[subject]["metrics"])
    names = list(next(iter(per_subject.values()))["metrics"])
    mean = {
        name: {
            m: float(np.mean([s["metrics"][name][m] for s in per_subject.values()]))
            for m in ("energy_distance", "classifier_accuracy")
        }
        for name in names
    }
    write_result(
        args.metrics,
        {
            "metrics": mean,
            "per_subject": per_subject,
            "components": args.components,
            "note": "pictures: PCA and UMAP fitted on the observed states of even frames, odd frames shown; "
            "chance accuracy is 0.5",
        },
        Fidelity,
    )
    with atomic_path(args.embedding) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["subject", "method", "source", "frame", "x", "y"])
        writer.writerows(rows)


if __name__ == "__main__":
    sys.exit(run(main, Args))
