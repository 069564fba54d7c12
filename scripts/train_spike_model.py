"""Train the causal spike-inference model (an ensemble per noise band) for one frame rate.

    python scripts/train_spike_model.py --fps 2.0 --source cascade \\
        --ground-truth-dir ../shared/data/cascade_ground_truth --datasets DS06-GCaMP6f-zf-aDp ... \\
        --settings '{...the config's spikes section...}' --out model.pt
    python scripts/train_spike_model.py --fps 2.0 --source synthetic --synthetic '{"n_neurons": 2000}' ...
"""

import argparse
import json
import logging
import sys
import tempfile

import torch

from sbm.cli import run
from sbm.io.atomic import atomic_path
from sbm.spikes.ground_truth import cascade_training_traces, load_cascade, synthetic_training_traces
from sbm.spikes.model import SpikeNetConfig, train_model


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fps", type=float, required=True, help="frame rate the model is for (Hz)")
    p.add_argument("--source", choices=["cascade", "synthetic"], required=True)
    p.add_argument("--ground-truth-dir", help="CASCADE ground-truth folder (source cascade)")
    p.add_argument("--datasets", nargs="*", default=[], help="CASCADE dataset folders to train on")
    p.add_argument("--settings", required=True, help="JSON: the config's `spikes` section")
    p.add_argument("--synthetic", default="{}", help="JSON: the config's `synthetic` section (source synthetic)")
    p.add_argument("--dff", default="{}", help="JSON: the config's `dff` section (the same DF/F as the data)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    s, dff = json.loads(args.settings), json.loads(args.dff)
    baseline = dict(baseline_window_s=dff.get("baseline_window_s", 30.0), baseline_percentile=dff.get("baseline_percentile", 8.0))
    cfg = SpikeNetConfig.from_dict(s["model"])
    if args.source == "cascade":
        if not args.ground_truth_dir or not args.datasets:
            p.error("--source cascade needs --ground-truth-dir and --datasets")
        recordings = load_cascade(args.ground_truth_dir, args.datasets)
        traces = cascade_training_traces(recordings, args.fps, s["resample_mode"], s["training_noise_levels"], s["repeats"], cfg.seed, **baseline)
        provenance = {"ground_truth": args.ground_truth_dir, "datasets": args.datasets}
    else:
        with tempfile.TemporaryDirectory() as tmp:
            traces = synthetic_training_traces(args.fps, json.loads(args.synthetic), s["calibration_fish"], s["training_noise_levels"],
                                               seed=1_000_003 + cfg.seed, workdir=tmp, **baseline)
        provenance = {"ground_truth": "simulator", "calibration_fish": s["calibration_fish"]}
    logging.info("%d training traces at %.3f Hz (%s)", len(traces), args.fps, provenance)
    model = train_model(traces, args.fps, s["noise_bands"], cfg)
    model.info.update(provenance, resample_mode=s["resample_mode"], training_noise_levels=s["training_noise_levels"])
    with atomic_path(args.out) as tmp:
        torch.save(model.state(), tmp)


if __name__ == "__main__":
    sys.exit(run(_main))
