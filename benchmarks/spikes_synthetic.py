"""Causal spike inference on simulated fish, against their true spikes, beside the baselines.

    python benchmarks/spikes_synthetic.py [--neurons 1000] [--frames 1500] [--fps 2.0]

Models and baselines are fitted on simulated calibration fish (seeds no test fish uses, as the
pipeline's spike_model rule does); scores are on a separate simulated test fish run through the
same reader and DF/F: median over neurons of the Pearson r with the true spike counts at lag 0,
the lag of the peak median r, and r after smoothing both with a causal half-Gaussian (sigma 1 s).
"""

import argparse
import tempfile
import time

import numpy as np
import torch

from sbm.spikes.baselines import LinearFilter, ar1_deconvolution, first_difference, fit_ar1, oasis
from sbm.spikes.ground_truth import synthetic_training_traces
from sbm.spikes.metrics import causal_smooth, lagged_r
from sbm.spikes.model import SpikeNetConfig, train_model

TRAIN_NOISE = [2, 3, 4, 5, 6, 8]
BANDS = [0, 3, 5, 8, 100]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--neurons", type=int, default=1000)
    p.add_argument("--frames", type=int, default=1500)
    p.add_argument("--fps", type=float, default=2.0)
    p.add_argument("--calibration-fish", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(2)
    sim = {"n_neurons": args.neurons, "n_frames": args.frames}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        train = synthetic_training_traces(
            args.fps, sim, args.calibration_fish, TRAIN_NOISE, seed=1_000_003, workdir=f"{tmp}/train"
        )
        test = synthetic_training_traces(args.fps, sim, 1, [], seed=77, workdir=f"{tmp}/test")
    # Baselines are fitted on the same calibration traces (all noise levels) as the networks.
    dffs, counts = [t.dff for t in train], [t.counts for t in train]
    g = fit_ar1(dffs, counts)
    methods = {
        "cnn (look-ahead 0)": train_model(train, args.fps, BANDS, SpikeNetConfig()),
        "first_difference": first_difference,
        "ar1": lambda x: ar1_deconvolution(x, g),
        "linear8": LinearFilter.fit(dffs, counts, taps=8).apply,
        "oasis (non-causal)": lambda x: oasis(x, args.fps),
        "cnn (look-ahead 1)": train_model(train, args.fps, BANDS, SpikeNetConfig(lookahead=1)),
        "linear8 (look-ahead 1)": LinearFilter.fit(dffs, counts, taps=8, lookahead=1).apply,
    }
    dff = np.stack([t.dff for t in test], 1)
    truth = np.stack([t.counts for t in test], 1)
    noise = np.array([t.noise for t in test])
    print(
        f"| method | median r lag 0 | peak lag | median r, smoothed |   ({len(test)} test neurons at "
        f"{args.fps} Hz, AR(1) g = {g:.2f})"
    )
    print("|---|---|---|---|")
    for name, m in methods.items():
        est = m.infer(dff, noise) if hasattr(m, "infer") else np.asarray(m(dff), float)
        med = {lag: np.nanmedian(lagged_r(est, truth, lag)) for lag in range(-2, 4)}
        smooth = np.nanmedian(lagged_r(causal_smooth(est, args.fps), causal_smooth(truth, args.fps), 0))
        print(f"| {name} | {med[0]:.3f} | {max(med, key=med.get)} | {smooth:.3f} |")
    print(f"\n{time.time() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
