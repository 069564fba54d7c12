"""Neural-pattern search on the held-out fish: brain states that drive the PNMs across behaviour
space, against real states and random patterns with the same activity.

    python scripts/search_patterns.py --pnm results/synthetic/pnm/*.pt --split results/synthetic/split.yaml \
        --train results/synthetic/probs/subject_1.h5 ... --heldout results/synthetic/probs/subject_4.h5 \
        --predictions behavior_predictions.h5 --settings '{...the config's pnm section...}' \
        --metrics search.json --space behavior_space.csv --pattern search_pattern.h5 \
        [--weights sbm/weights.pt: needed with pnm.search.through_sbm]

Behaviour space is fitted on the training fish's observed behaviour only.
"""

import csv
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from sbm.cli import Command, arg, run
from sbm.data.behavior import load_behavior_fish, read_behavior, scale_to_unit
from sbm.data.split import read_split, split_files
from sbm.eval.behavior import load_pnms
from sbm.eval.load import load_evaluated
from sbm.eval.search import BehaviorSpace, SearchConfig, search_fish
from sbm.io.atomic import atomic_path
from sbm.io.contracts import BEHAVIOR_PREDICTIONS, SEARCH_PATTERN, Search, read_groups, write_groups, write_result
from sbm.io.errors import InputError


@dataclass(kw_only=True)
class Args(Command):
    pnm: list[Path] = arg("one PNM per behaviour dimension (train_pnm.py)")
    split: Path = arg("split.yaml from the split rule")
    train: list[Path] = arg("the training fish's probs files (their behaviour spans the behaviour plane)")
    heldout: list[Path] = arg("the held-out fish's probs files (the search starts from their states)")
    predictions: Path = arg("evaluate_behavior.py's per-frame predictions (drawn in the same plane)")
    settings: dict = arg("the config's `pnm` section (its `search` part is used)", {})
    weights: Path | None = arg("the SBM, for search through SBM rollouts (pnm.search.through_sbm)", None)
    metrics: Path = arg("JSON: coverage, hull areas, objective")
    space: Path = arg("CSV: every point of the behaviour plane")
    pattern: Path = arg("HDF5: one optimised pattern per held-out fish, with positions")


def main(args: Args) -> None:
    cfg = SearchConfig.from_dict(args.settings.get("search", {}))
    split = read_split(args.split)
    pnms, names, quantile = load_pnms(args.pnm, split.heldout)
    sbm = None
    if cfg.through_sbm:
        if not args.weights:
            raise InputError(args.metrics, "pnm.search.through_sbm needs the SBM's --weights")
        sbm, _ = load_evaluated(args.weights, None, split.heldout)
    train = split_files(split, "train", args.train, args.split)
    space = BehaviorSpace(
        np.concatenate([scale_to_unit(read_behavior(path, names), quantile) for path in train]), cfg.grid
    )
    n_frames = pnms[0].cfg.frames
    results, rows, shown = [], [], {}
    predictions = read_groups(args.predictions, BEHAVIOR_PREDICTIONS)
    for subject, path in zip(split.heldout, split_files(split, "heldout", args.heldout, args.split)):
        fish = load_behavior_fish(path, names, quantile, max(n_frames, sbm.cfg.context + 1) if sbm else n_frames)
        result = search_fish(pnms, space, fish, cfg, sbm)
        logging.info(
            "%s: coverage %s; hull area %s; objective %.4f -> %.4f",
            subject,
            result["coverage"],
            result["hull_area"],
            result["objective"]["start"],
            result["objective"]["end"],
        )
        if subject not in predictions:
            raise InputError(args.predictions, f"no predictions for held-out fish {subject}: rerun evaluate_behavior")
        group = predictions[subject]
        for name, set_name in (
            ("observed", "observed_every_frame"),
            ("pnm_observed_states", "pnm_observed_states"),
            ("pnm_sbm_states", "pnm_sbm_states"),
        ):
            for frame, (pc1, pc2) in zip(group["frame"], space.project(group[name])):
                rows.append([subject, set_name, int(frame), pc1, pc2])
        for name, coords in result.pop("coords").items():
            for frame, (pc1, pc2) in zip(result["frames"], coords):
                rows.append([subject, name, frame, pc1, pc2])
        for frame, (pc1, pc2) in zip(result["frames"], result["targets"]):
            rows.append([subject, "target", frame, pc1, pc2])
        with h5py.File(path, "r") as f:
            shown[subject] = {**result.pop("shown"), "xyz_um": f["xyz"][()]}
        result["targets"] = result["targets"].tolist()
        results.append(result)
    with atomic_path(args.space) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["subject", "set", "frame", "pc1", "pc2"])
        writer.writerows(rows)
    write_groups(args.pattern, shown, SEARCH_PATTERN)
    summary = {
        k: {s: float(np.mean([r[k][s] for r in results])) for s in results[0][k]}
        for k in ("coverage", "hull_area", "distance_to_target")
    }
    write_result(
        args.metrics,
        {
            "behaviors": names,
            "config": vars(cfg),
            "space": space.state(),
            **summary,
            "per_subject": {r.pop("subject"): r for r in results},
        },
        Search,
    )


if __name__ == "__main__":
    sys.exit(run(main, Args))
