"""Autoregressive rollouts on the held-out fish: MAE against horizon for the SBM and the baselines.

    python scripts/evaluate_rollout.py --weights results/synthetic/sbm/weights.pt \\
        --forecasters results/synthetic/baselines/forecasters.pt --split results/synthetic/split.yaml \\
        --probs-dir results/synthetic/probs --horizon 32 --starts 8 --out rollout.json --example-out rollout_example.h5
"""

import argparse
import logging
import sys

from sbm.cli import run
from sbm.eval.load import add_arguments, from_arguments
from sbm.eval.rollout import rollout_errors, summarise_rollouts
from sbm.io.atomic import write_h5_groups, write_json


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    p.add_argument("--horizon", type=int, default=32, help="frames forecast from each start")
    p.add_argument("--starts", type=int, default=8, help="evenly spaced starting points per held-out fish")
    p.add_argument("--example-out", help="HDF5 of one full rollout per fish (for the figures)")
    args = p.parse_args(argv)
    heldout, paths, model, forecasters = from_arguments(args)
    per_fish = [rollout_errors(model, path, args.horizon, args.starts, args.batch_size, forecasters) for path in paths]
    if args.example_out:  # per fish: truth (C + H, N), sbm (H, N), xyz, stimulus; first_frame, context, fps as attributes
        write_h5_groups(args.example_out, {fish["subject"]: fish["example"] for fish in per_fish})
    for fish in per_fish:
        fish.pop("example", None)
    result = {"heldout": heldout, "context": model.cfg.context, **summarise_rollouts(per_fish)}
    logging.info("rollout MAE at horizon 1 / %d: %s; growth exponents: %s", args.horizon,
                 {k: (round(v[0], 4), round(v[-1], 4)) for k, v in result["mae"].items()}, result["growth_exponent"])
    write_json(args.out, result)


if __name__ == "__main__":
    sys.exit(run(_main))
