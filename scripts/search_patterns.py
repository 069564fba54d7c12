"""Neural-pattern search on the held-out fish: brain states that drive the PNMs across behaviour
space, against real states and random patterns with the same activity.

    python scripts/search_patterns.py --pnm results/synthetic/pnm/*.pt --split results/synthetic/split.yaml \\
        --probs-dir results/synthetic/probs --predictions behavior_predictions.h5 \\
        --settings '{...the config's pnm section...}' --out search.json --space-out behavior_space.csv \\
        --pattern-out search_pattern.h5 [--weights sbm/weights.pt: needed with pnm.search.through_sbm]

Behaviour space is fitted on the training fish's true behaviour only.
"""

import argparse
import csv
import json
import logging
import sys
from pathlib import Path

import h5py
import numpy as np
import torch
import yaml

from sbm.cli import run
from sbm.data.behavior import load_behavior_fish, read_behavior, scale_to_unit
from sbm.eval.behavior import load_pnms
from sbm.eval.load import load_evaluated
from sbm.eval.search import BehaviorSpace, SearchConfig, search_fish
from sbm.io.atomic import atomic_path, write_h5_groups, write_json
from sbm.io.errors import InputError


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pnm", nargs="+", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--probs-dir", required=True)
    p.add_argument("--predictions", required=True, help="evaluate_behavior.py's per-frame predictions (drawn in the same plane)")
    p.add_argument("--settings", default="{}", help="JSON: the config's `pnm` section (its `search` part is used)")
    p.add_argument("--weights", help="the SBM, for search through SBM rollouts (pnm.search.through_sbm)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--space-out", required=True, help="CSV: every point of the behaviour plane")
    p.add_argument("--pattern-out", required=True, help="HDF5: one optimised pattern per held-out fish, with positions")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = SearchConfig.from_dict(json.loads(args.settings).get("search", {}))
    split = yaml.safe_load(Path(args.split).read_text())
    pnms, names, quantile = load_pnms(args.pnm, split["heldout"])
    sbm = None
    if cfg.through_sbm:
        if not args.weights:
            p.error("pnm.search.through_sbm needs --weights")
        sbm, _ = load_evaluated(args.weights, None, split["heldout"])
    probs = lambda s: Path(args.probs_dir) / f"{s}.h5"  # noqa: E731
    space = BehaviorSpace(np.concatenate([scale_to_unit(read_behavior(probs(s), names), quantile) for s in split["train"]]), cfg.grid)
    F = pnms[0].cfg.frames
    results, rows, shown = [], [], {}
    with h5py.File(args.predictions, "r") as predictions:
        for subject in split["heldout"]:
            fish = load_behavior_fish(probs(subject), names, quantile, max(F, sbm.cfg.context + 1) if sbm else F)
            result = search_fish(pnms, space, fish, cfg, sbm)
            logging.info("%s: coverage %s; hull area %s; objective %.4f -> %.4f", subject, result["coverage"], result["hull_area"],
                         result["objective"]["start"], result["objective"]["end"])
            if subject not in predictions:
                raise InputError(args.predictions, f"no predictions for held-out fish {subject}: rerun evaluate_behavior")
            group = predictions[subject]
            for name in ("truth", "pnm_true_states", "pnm_sbm_states"):
                for frame, (pc1, pc2) in zip(group["frame"][()], space.project(group[name][()])):
                    rows.append([subject, name, int(frame), pc1, pc2])
            for name, coords in result.pop("coords").items():
                for frame, (pc1, pc2) in zip(result["frames"], coords):
                    rows.append([subject, name, frame, pc1, pc2])
            for frame, (pc1, pc2) in zip(result["frames"], result["targets"]):
                rows.append([subject, "target", frame, pc1, pc2])
            with h5py.File(probs(subject), "r") as f:
                shown[subject] = {**result.pop("shown"), "xyz_um": f["xyz"][()]}
            result["targets"] = result["targets"].tolist()
            results.append(result)
    with atomic_path(args.space_out) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["subject", "set", "frame", "pc1", "pc2"])
        writer.writerows(rows)
    write_h5_groups(args.pattern_out, shown)
    summary = {k: {s: float(np.mean([r[k][s] for r in results])) for s in results[0][k]} for k in ("coverage", "hull_area", "distance_to_target")}
    write_json(args.out, {"behaviors": names, "config": vars(cfg), "space": space.state(), **summary,
                          "per_subject": {r.pop("subject"): r for r in results}})


if __name__ == "__main__":
    sys.exit(run(_main))
