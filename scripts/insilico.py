"""In-silico optogenetics on the held-out fish: every population (simulated fish) or region
excited and silenced inside rollouts of the SBM and of the forecasters beside it; on simulated
fish, scored against the simulator's replay of the same experiments (sbm.eval.insilico).

    python scripts/insilico.py --weights results/synthetic/sbm/weights.pt \\
        --forecasters results/synthetic/baselines/forecasters.pt --split results/synthetic/split.yaml \\
        --heldout results/synthetic/probs/subject_4.h5 \\
        [--truth resources/synthetic/raw/subject_4/ground_truth.h5 --simulator '{"n_neurons": 2000}' \\
         --train results/synthetic/probs/subject_1.h5 \\
         --train-truth resources/synthetic/raw/subject_1/ground_truth.h5] \\
        [--pnm results/synthetic/pnm/left_turn.pt ...] --settings '{"duration": 6}' \\
        --metrics results/synthetic/eval/insilico.json --responses results/synthetic/eval/insilico_responses.h5
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sbm.cli import arg, run
from sbm.data.split import read_split, split_files
from sbm.data.windows import open_probs
from sbm.eval.behavior import load_pnms
from sbm.eval.insilico import (
    InsilicoConfig,
    Lag1Groups,
    behaviour_agreement,
    insilico_fish,
    simulator_replay,
    summarise_scores,
)
from sbm.eval.load import ForecastEvaluation, load_forecast_evaluation
from sbm.eval.truth import population_means, read_truth, truth_files
from sbm.io.contracts import INSILICO_RESPONSES, Insilico, write_groups, write_result
from sbm.io.errors import InputError
from sbm.synth.fish import BEHAVIOR_DRIVE, SimConfig


@dataclass(kw_only=True)
class Args(ForecastEvaluation):
    settings: dict = arg("the config's `insilico` section", {})
    simulator: dict = arg("simulated fish: the config's `synthetic` section (the replay's settings)", {})
    train: list[Path] = arg("simulated fish: the training fish's probs files (the lag-1 baseline)", [])
    train_truth: list[Path] = arg("their ground_truth.h5 (the populations the lag-1 baseline reads)", [])
    pnm: list[Path] = arg("the PNMs (one per behaviour): the behaviour under each experiment", [])
    metrics: Path = arg("JSON: the experiments and their scores")
    responses: Path = arg("HDF5: per fish, the responses per neuron and frame (figure, page)")


def lag1_baseline(args: Args, n_groups: int) -> Lag1Groups:
    """The groups' lag-1 model fitted on the training fish, their populations from the simulator."""
    split = read_split(args.split)
    paths = split_files(split, "train", args.train, args.split)
    series = []
    for path, truth_path in zip(paths, truth_files(args.train_truth, split.train)):
        truth = read_truth(path, truth_path, with_prob=False)
        prob = torch.from_numpy(open_probs(path, 2, keep_prob=True).prob.astype(np.float32))
        series.append(population_means(prob, torch.from_numpy(truth.population), n_groups)[0].numpy())
    return Lag1Groups.fit(series)


def main(args: Args) -> None:
    cfg = InsilicoConfig.from_dict(args.settings)
    evaluated = load_forecast_evaluation(args)
    targets = cfg.targets if cfg.targets != "auto" else ("populations" if evaluated.truths else "regions")
    if targets == "populations" and not evaluated.truths:
        raise InputError(args.split, "insilico.targets populations needs the simulator's truth of the held-out fish")
    pnms, pnm_names = (load_pnms([str(p) for p in args.pnm], evaluated.heldout)[:2]) if args.pnm else ([], [])
    fitted = {name: forecast for name, (forecast, _) in evaluated.fitted(None).items()}
    lag1 = None
    entries, arrays = [], {}
    for i, path in enumerate(evaluated.paths):
        truth, replay = evaluated.truth(i, with_prob=False), None
        groups, names = (truth.population, truth.names) if targets == "populations" else (None, None)  # None: regions
        if targets == "populations" and lag1 is None and args.train:
            lag1 = lag1_baseline(args, len(names))
        if truth is not None:
            sim = SimConfig.from_dict(args.simulator)
            replay = simulator_replay(sim, evaluated.truths[i], truth, cfg.horizon, cfg.replicas)
        fish_entries, fish_arrays = insilico_fish(path, evaluated.model, fitted, cfg, groups, names, lag1, replay, pnms)
        entries += fish_entries
        arrays[fish_entries[0]["subject"]] = {**fish_arrays, "behavior_names": list(pnm_names)}
        logging.info("%s: %d experiments", fish_entries[0]["subject"], len(fish_entries))
    models = list(entries[0]["maps"].keys() - {"truth"})
    models = ["sbm"] + sorted(m for m in models if m != "sbm")
    scored = "scores" in entries[0]
    result = {
        "heldout": evaluated.heldout,
        "targets": targets,
        "config": vars(cfg) | {"kinds": list(cfg.kinds)},
        "forecasters": models,
        "scores": summarise_scores(entries, models) if scored else None,
        "behavior": behaviour_agreement(entries, pnm_names, list(BEHAVIOR_DRIVE)) if scored and pnms else None,
        "behavior_names": list(pnm_names),
        "experiments": entries,
    }
    if scored:
        for m, s in result["scores"].items():
            logging.info("%s: map r %s, responder AUROC %s", m, s["r"]["mean"], s["auroc"]["mean"])
    write_groups(args.responses, arrays, INSILICO_RESPONSES)
    write_result(args.metrics, result, Insilico)


if __name__ == "__main__":
    sys.exit(run(main, Args))
