"""Loading what the evaluation scores, refusing anything that has seen a held-out fish."""

from dataclasses import dataclass
from pathlib import Path

import torch

from sbm.cli import Command, arg
from sbm.data.split import read_split, split_files
from sbm.data.windows import check_frame_rates
from sbm.eval.truth import SimulatedTruth, read_truth, truth_files
from sbm.io.contracts import PROBS, open_checked
from sbm.io.errors import InputError
from sbm.model.baselines import ORACLES, Forecasters
from sbm.model.forecast import Forecaster, sbm_forecaster
from sbm.model.poco import load_poco, poco_forecaster
from sbm.model.sbm import SBM, load_weights


def check_unseen(path, seen: list[str], heldout: list[str]) -> None:
    leaked = sorted(set(seen) & set(heldout))
    if leaked:
        raise InputError(path, f"was trained or selected on held-out fish {leaked}")


def load_evaluated(
    weights_path, forecasters_path, heldout: list[str], heldout_paths: list = ()
) -> tuple[SBM, Forecasters | None]:
    """The SBM and (if a path is given) the baseline forecasters, each checked against the split;
    the held-out fish's probs files, if given, against the frame rate the SBM was trained at."""
    model, state = load_weights(weights_path)
    check_unseen(weights_path, state["training"]["train_fish"] + state["training"]["val_fish"], heldout)
    if "fps" in state["data"]:  # weights from before the frame rate was recorded: not checked
        rates = {}
        for path in heldout_paths:
            with open_checked(path, PROBS) as f:
                rates[str(path)] = float(f.attrs["fps"])
        tolerance = state["training"]["settings"]["fps_tolerance"]
        check_frame_rates(rates, state["data"]["fps"], tolerance, "the SBM's training fish")
    forecasters = None
    if forecasters_path:
        forecasters = Forecasters.from_state(torch.load(forecasters_path, weights_only=False))
        check_unseen(forecasters_path, forecasters.info["train_fish"] + forecasters.info["val_fish"], heldout)
        if forecasters.info["context"] != model.cfg.context:
            raise InputError(
                forecasters_path, f"fitted for context {forecasters.info['context']}, the SBM reads {model.cfg.context}"
            )
    return model, forecasters


@dataclass(kw_only=True)
class Evaluation(Command):
    """The arguments every evaluation script takes (its Args extends them)."""

    weights: Path = arg("the SBM (train_sbm.py)")
    split: Path = arg("split.yaml: its held-out fish are evaluated")
    heldout: list[Path] = arg("the held-out fish's probs files")
    batch_size: int = arg("windows per forward pass", 8)


def load_evaluation(
    args: Evaluation, forecasters: Path | None = None
) -> tuple[list[str], list[Path], SBM, Forecasters | None]:
    """(held-out subjects, their probs files in that order, the SBM, the forecasters if a path is given)."""
    split = read_split(args.split)
    paths = split_files(split, "heldout", args.heldout, args.split)
    model, fitted = load_evaluated(args.weights, forecasters, split.heldout, paths)
    return split.heldout, paths, model, fitted


@dataclass(kw_only=True)
class ForecastEvaluation(Evaluation):
    """The arguments of the forecast evaluations (next step, rollouts)."""

    forecasters: Path | None = arg("fitted baseline forecasters (fit_forecasters.py)", None)
    poco: Path | None = arg("POCO trained on the same fish (train_poco.py)", None)
    ablation: Path | None = arg("the SBM trained without spatial attention (train_sbm.py)", None)
    truth: list[Path] = arg("simulated fish: each held-out fish's ground_truth.h5 (scores against the truth)", [])


@dataclass
class Evaluated:
    """Everything a forecast evaluation scores beside the SBM, checked against the split."""

    heldout: list[str]  # the held-out subjects
    paths: list[Path]  # their probs files, in that order
    model: SBM
    forecasters: Forecasters | None
    peers: dict[str, Forecaster]  # poco, sbm_no_spatial: trained on the same fish and windows
    truths: list[Path] | None  # the held-out fish's ground_truth.h5, in that order

    def truth(self, i: int, with_prob: bool = True) -> SimulatedTruth | None:
        return read_truth(self.paths[i], self.truths[i], with_prob) if self.truths else None

    def fitted(self, truth: SimulatedTruth | None) -> dict[str, tuple[Forecaster, bool]]:
        """name -> (forecaster, whether it reads the oracle's stimulus) for one held-out fish."""
        out = {}
        if self.forecasters is not None:
            out = {name: (self.forecasters.forecaster(name), False) for name in self.forecasters.names}
            if truth is not None:
                population = torch.from_numpy(truth.population)
                for name in (n for n in ORACLES if n in self.forecasters.ridges):
                    out[name] = (self.forecasters.forecaster(name, population), True)
        return out | {name: (forecast, False) for name, forecast in self.peers.items()}


def load_forecast_evaluation(args: ForecastEvaluation) -> Evaluated:
    heldout, paths, model, forecasters = load_evaluation(args, args.forecasters)
    peers = {}
    if args.poco:
        poco, state = load_poco(args.poco)
        check_unseen(args.poco, state["training"]["train_fish"] + state["training"]["val_fish"], heldout)
        if poco.cfg.context != model.cfg.context:
            raise InputError(args.poco, f"reads a context of {poco.cfg.context}, the SBM reads {model.cfg.context}")
        peers["poco"] = poco_forecaster(poco.eval())
    if args.ablation:
        ablation, _ = load_evaluated(args.ablation, None, heldout)
        peers["sbm_no_spatial"] = sbm_forecaster(ablation.eval())
    return Evaluated(
        heldout, paths, model, forecasters, peers, truth_files(args.truth, heldout) if args.truth else None
    )
