"""Autoregressive rollouts on the held-out fish: MAE against horizon for the SBM and the baselines.

    python scripts/evaluate_rollout.py --weights results/synthetic/sbm/weights.pt \
        --forecasters results/synthetic/baselines/forecasters.pt --poco results/synthetic/poco/weights.pt \
        --ablation results/synthetic/sbm_no_spatial/weights.pt --split results/synthetic/split.yaml \
        [--truth resources/synthetic/raw/subject_4/ground_truth.h5] \
        --heldout results/synthetic/probs/subject_4.h5 --horizon 32 --starts 8 \
        --metrics rollout.json --example rollout_example.h5
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.cli import arg, run
from sbm.eval.load import ForecastEvaluation, load_forecast_evaluation
from sbm.eval.rollout import rollout_errors, summarise_rollouts
from sbm.io.contracts import ROLLOUT_EXAMPLE, Rollout, write_groups, write_result


@dataclass(kw_only=True)
class Args(ForecastEvaluation):
    horizon: int = arg("frames forecast from each start", 32)
    starts: int = arg("evenly spaced starting points per held-out fish", 16)
    metrics: Path = arg("JSON: the metrics")
    example: Path = arg("HDF5: one full rollout per fish (for the figures)")


def main(args: Args) -> None:
    evaluated = load_forecast_evaluation(args)
    model = evaluated.model
    per_fish = []
    for i, path in enumerate(evaluated.paths):
        truth = evaluated.truth(i)
        per_fish.append(
            rollout_errors(model, path, args.horizon, args.starts, args.batch_size, evaluated.fitted(truth), truth)
        )
        logging.info("%s: rolled out from %d starts", per_fish[-1]["subject"], per_fish[-1]["starts"])
    # Per fish: observed (C + H, N), sbm (H, N), xyz, stimulus; first_frame, context, fps as attributes.
    write_groups(args.example, {fish["subject"]: fish.pop("example") for fish in per_fish}, ROLLOUT_EXAMPLE)
    result = {"heldout": evaluated.heldout, "context": model.cfg.context, **summarise_rollouts(per_fish)}
    logging.info(
        "rollout MAE at horizon 1 / %d: %s; growth exponents: %s",
        args.horizon,
        {k: (round(v[0], 4), round(v[-1], 4)) for k, v in result["mae"].items()},
        result["growth_exponent"],
    )
    write_result(args.metrics, result, Rollout)


if __name__ == "__main__":
    sys.exit(run(main, Args))
