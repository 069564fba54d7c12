"""Next-step MAE and calibration of the trained SBM on the held-out fish, beside baselines on the same windows.

    python scripts/evaluate_next_step.py --weights results/synthetic/sbm/weights.pt \\
        --split results/synthetic/split.yaml --probs-dir results/synthetic/probs --out next_step.json
"""

import argparse
import logging
import sys
from pathlib import Path

import torch
import yaml

from sbm.cli import run
from sbm.eval.load import load_evaluated
from sbm.eval.metrics import Reliability
from sbm.eval.next_step import next_step_errors, summarise
from sbm.io.atomic import write_json


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--probs-dir", required=True)
    p.add_argument("--forecasters", help="fitted baseline forecasters (fit_forecasters.py), optional")
    p.add_argument("--stride", type=int, default=1, help="frames between evaluated windows")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    heldout = yaml.safe_load(Path(args.split).read_text())["heldout"]
    model, forecasters = load_evaluated(args.weights, args.forecasters, heldout)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    reliability = {name: Reliability() for name in ("sbm", "persistence", "ridge", "mlp")}
    per_fish = [next_step_errors(model, Path(args.probs_dir) / f"{s}.h5", args.stride, args.batch_size, device, forecasters, reliability, progress=True)
                for s in heldout]
    calibration = {name: r.result() for name, r in reliability.items() if r.count.sum() > 0}
    result = {"heldout": heldout, "stride": args.stride, "context": model.cfg.context, **summarise(per_fish),
              "ece": {name: c["ece"] for name, c in calibration.items()}, "calibration": calibration,
              "baseline_fits": forecasters.info if forecasters else None}
    logging.info("held-out next-step MAE: %s; SBM / baseline: %s; ECE: %s", result["mae"], result["sbm_over_baseline"], result["ece"])
    write_json(args.out, result)


if __name__ == "__main__":
    sys.exit(run(_main))
