"""Autoregressive rollouts on the held-out fish: MAE against horizon for the SBM and the baselines.

    python scripts/evaluate_rollout.py --weights results/synthetic/sbm/weights.pt \\
        --forecasters results/synthetic/baselines/forecasters.pt --split results/synthetic/split.yaml \\
        --probs-dir results/synthetic/probs --horizon 32 --starts 8 --out rollout.json
"""

import argparse
import logging
import sys
from pathlib import Path

import torch
import yaml

from sbm.cli import run
from sbm.eval.load import load_evaluated
from sbm.eval.rollout import rollout_errors, summarise_rollouts
from sbm.io.atomic import write_json


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", required=True)
    p.add_argument("--forecasters", help="fitted baseline forecasters (fit_forecasters.py), optional")
    p.add_argument("--split", required=True)
    p.add_argument("--probs-dir", required=True)
    p.add_argument("--horizon", type=int, default=32, help="frames forecast from each start")
    p.add_argument("--starts", type=int, default=8, help="evenly spaced starting points per held-out fish")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    heldout = yaml.safe_load(Path(args.split).read_text())["heldout"]
    model, forecasters = load_evaluated(args.weights, args.forecasters, heldout)
    per_fish = [rollout_errors(model, Path(args.probs_dir) / f"{s}.h5", args.horizon, args.starts, args.batch_size, forecasters)
                for s in heldout]
    result = {"heldout": heldout, "context": model.cfg.context, **summarise_rollouts(per_fish)}
    logging.info("rollout MAE at horizon 1 / %d: %s; growth exponents: %s", args.horizon,
                 {k: (round(v[0], 4), round(v[-1], 4)) for k, v in result["mae"].items()}, result["growth_exponent"])
    write_json(args.out, result)


if __name__ == "__main__":
    sys.exit(run(_main))
