"""Fit the per-neuron baseline forecasters (ridge AR, MLP) on the training fish, selected on the validation fish.

    python scripts/fit_forecasters.py --split results/synthetic/split.yaml --probs-dir results/synthetic/probs \\
        --context 12 --settings '{...the config's baselines section...}' --out forecasters.pt
"""

import argparse
import json
import logging
import sys
from pathlib import Path

import torch
import yaml

from sbm.cli import run
from sbm.data.windows import Windows, check_same_stimuli, open_fish
from sbm.train.baselines import ForecasterConfig, fit_forecasters
from sbm.io.atomic import atomic_path


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", required=True)
    p.add_argument("--probs-dir", required=True)
    p.add_argument("--context", type=int, required=True, help="frames a forecaster reads (the SBM's context)")
    p.add_argument("--settings", default="{}", help="JSON: the config's `baselines` section")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = ForecasterConfig.from_dict(json.loads(args.settings))
    split = yaml.safe_load(Path(args.split).read_text())
    fish = {part: [open_fish(Path(args.probs_dir) / f"{s}.h5", args.context + 1) for s in split[part]] for part in ("train", "val")}
    check_same_stimuli(fish["train"] + fish["val"])
    forecasters = fit_forecasters(Windows(fish["train"], args.context), Windows(fish["val"], args.context), cfg)
    forecasters.info.update(train_fish=split["train"], val_fish=split["val"])
    logging.info("ridge: %s; mlp: %s", forecasters.info["ridge"], forecasters.info["mlp"])
    with atomic_path(args.out) as tmp:
        torch.save(forecasters.state(), tmp)


if __name__ == "__main__":
    sys.exit(run(_main))
