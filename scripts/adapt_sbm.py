"""The trained SBM taken to each held-out fish: zero-shot, then fine-tuned on its first k minutes
(k on the config's grid), scored on the rest of its recording beside per-neuron forecasters
fitted on the same minutes (sbm.eval.adapt).

    python scripts/adapt_sbm.py --weights results/synthetic/sbm/weights.pt \\
        --forecasters results/synthetic/baselines/forecasters.pt --split results/synthetic/split.yaml \\
        --heldout results/synthetic/probs/subject_4.h5 --settings '{"minutes": [0, 1, 2]}' \\
        --run-dir results/synthetic/adapt/run-x --out results/synthetic/eval/adapt.json
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from sbm.cli import arg, run
from sbm.eval.adapt import AdaptConfig, adapt_fish, summarise_adaptation
from sbm.eval.load import Evaluation, load_evaluation
from sbm.io.contracts import Adapt, write_result
from sbm.train.baselines import ForecasterConfig


@dataclass(kw_only=True)
class Args(Evaluation):
    forecasters: Path = arg("the baseline forecasters fitted on the training fish (fit_forecasters.py)")
    settings: dict = arg("the config's `sbm.adapt` section", {})
    baselines: dict = arg("the config's `baselines` section (the forecasters refitted on each k minutes)", {})
    evaluate: dict = arg("stride, rollout_horizon, rollout_starts (the config's `sbm.evaluate`)", {})
    run_dir: Path = arg("folder of the fine-tunes' ckpts (resumed if present)")
    device: str = arg("auto, cpu or cuda", "auto")
    out: Path = arg("JSON: the adaptation results")


def main(args: Args) -> None:
    cfg = AdaptConfig.from_dict(args.settings)
    heldout, paths, _, forecasters = load_evaluation(args, args.forecasters)
    baselines = ForecasterConfig.from_dict({**args.baselines, "steps": cfg.baseline_steps})
    evaluate = {"batch_size": args.batch_size, **args.evaluate}
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    per_fish = [
        adapt_fish(args.weights, forecasters, path, cfg, baselines, evaluate, args.run_dir, device) for path in paths
    ]
    result = {"heldout": heldout, **summarise_adaptation(per_fish, cfg), "per_subject": per_fish}
    logging.info("next-step MAE by minutes %s: %s", result["minutes"], result["next_step_mae"])
    write_result(args.out, result, Adapt)


if __name__ == "__main__":
    sys.exit(run(main, Args))
