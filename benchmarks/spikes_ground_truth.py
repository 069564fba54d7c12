"""Causal spike inference on real neurons: leave one zebrafish GCaMP6f dataset out.

    python benchmarks/spikes_ground_truth.py [--ground-truth-dir ../shared/data/cascade_ground_truth]

For each held-out dataset (DS06, DS07, DS08: adult zebrafish, GCaMP6f), every method is
fitted on all the *other* ground-truth datasets and scored on the held-out one, at 2.0 and 2.5 Hz,
with the ground truth brought to the frame rate by frame averages and by one sample per frame,
at its native noise and degraded to noise levels 2, 4 and 8. All inputs go through the pipeline's
own causal DF/F (30 s, 8th percentile), as the real fish do; `--given-dff` keeps the database's own
DF/F instead, to compare with numbers published on it. Scores, median over neurons (trials of a
neuron joined):
  r0      Pearson r between the estimate and the spike counts of the same frame (lag 0)
  peak    the lag (frames, estimate late by +k) where the median r is highest
  r_smooth r after smoothing estimate and counts with the same causal half-Gaussian (sigma 1 s)
Methods: the causal CNN ensemble (look-ahead 0; and 1, labelled), a causal first difference, a
causal AR(1) deconvolution with g fitted on the training datasets, an 8-frame causal linear filter
fitted by least squares on them (and the same with one future frame), and OASIS (non-causal, a
reference; it needs no training).
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from sbm.spikes.baselines import LinearFilter, ar1_deconvolution, first_difference, fit_ar1, oasis
from sbm.spikes.ground_truth import cascade_training_traces, frame_traces, load_cascade
from sbm.spikes.metrics import causal_smooth, lagged_r
from sbm.spikes.model import SpikeNetConfig, train_model

HELD_OUT = ["DS06-GCaMP6f-zf-aDp", "DS07-GCaMP6f-zf-dD", "DS08-GCaMP6f-zf-OB"]
BANDS = [0, 3, 5, 8, 100]
TRAIN_NOISE = [2, 3, 4, 5, 6, 8]
LAGS = range(-2, 4)


def by_neuron(traces, estimates):
    """Join the trials of each neuron: {neuron: (estimate, counts)}."""
    out = {}
    for t, est in zip(traces, estimates):
        key = t.name.split("#")[0]
        e, c = out.setdefault(key, ([], []))
        e.append(est)
        c.append(t.counts)
    return {k: (np.concatenate(e), np.concatenate(c)) for k, (e, c) in out.items()}


def scores(traces, estimates, fps):
    joined = by_neuron(traces, estimates).values()
    per_lag = {lag: [lagged_r(e[:, None], c[:, None], lag)[0] for e, c in joined] for lag in LAGS}
    med = {lag: np.nanmedian(v) for lag, v in per_lag.items()}
    smooth = [lagged_r(causal_smooth(e, fps)[:, None], causal_smooth(c, fps)[:, None], 0)[0] for e, c in joined]
    return per_lag[0], max(med, key=med.get), smooth


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--ground-truth-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/cascade_ground_truth")
    )
    p.add_argument("--fps", type=float, nargs="+", default=[2.0, 2.5])
    p.add_argument("--modes", nargs="+", default=["average", "sample"])
    p.add_argument("--noise", nargs="+", default=["native", "2", "4", "8"])
    p.add_argument("--ensemble", type=int, default=SpikeNetConfig.ensemble, help="networks per band")
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--lookahead-at", default="2.0/average", help="fps/mode where look-ahead 1 variants are also run")
    p.add_argument("--given-dff", action="store_true", help="keep the database's DF/F (no causal re-baselining)")
    args = p.parse_args()
    torch.set_num_threads(2)
    datasets = sorted(d for d in os.listdir(args.ground_truth_dir) if d.startswith("DS"))
    recordings = load_cascade(args.ground_truth_dir, datasets)
    cfg = SpikeNetConfig(ensemble=args.ensemble, steps=args.steps)
    rows = {}  # (fps, mode, noise, method) -> lists over held-out datasets
    t_start = time.time()
    for fps in args.fps:
        for mode in args.modes:
            with_lookahead = f"{fps}/{mode}" == args.lookahead_at
            for held in HELD_OUT:
                train_sets = {d: recordings[d] for d in datasets if d != held}
                train = cascade_training_traces(
                    train_sets, fps, mode, TRAIN_NOISE, repeats=2, seed=0, rebaseline=not args.given_dff
                )
                g = fit_ar1([t.dff for t in train], [t.counts for t in train])
                lin = LinearFilter.fit([t.dff for t in train], [t.counts for t in train], taps=8)
                methods = {
                    "cnn": train_model(train, fps, BANDS, cfg),
                    "first_difference": first_difference,
                    "ar1": lambda x, g=g: ar1_deconvolution(x, g),
                    "linear8": lin.apply,
                    "oasis (non-causal)": lambda x: oasis(x, fps),
                }
                if with_lookahead:
                    methods["cnn, look-ahead 1"] = train_model(
                        train, fps, BANDS, SpikeNetConfig(**{**cfg.__dict__, "lookahead": 1})
                    )
                    methods["linear8, look-ahead 1"] = LinearFilter.fit(
                        [t.dff for t in train], [t.counts for t in train], taps=8, lookahead=1
                    ).apply
                for noise in args.noise:
                    rng = np.random.default_rng(1)
                    test = frame_traces(
                        recordings[held],
                        fps,
                        mode,
                        None if noise == "native" else float(noise),
                        rng,
                        rebaseline=not args.given_dff,
                    )
                    test = [t for t in test if np.ptp(t.dff) > 0]
                    for name, m in methods.items():
                        if hasattr(m, "infer"):
                            est = [m.infer(t.dff[:, None], np.array([t.noise]))[0][:, 0] for t in test]
                        else:
                            est = [np.asarray(m(t.dff), float) for t in test]
                        r0, peak, smooth = scores(test, est, fps)
                        row = rows.setdefault((fps, mode, noise, name), {"r0": [], "peak": [], "smooth": [], "n": 0})
                        row["r0"] += list(r0)
                        row["smooth"] += list(smooth)
                        row["peak"].append(peak)
                        row["n"] += len(r0)
                print(f"  done {fps} Hz {mode} held-out {held} ({time.time() - t_start:.0f} s)", flush=True)
    print(
        "\n| fps | resampling | noise | method | neurons | median r lag 0 | peak lag (per held-out set) | "
        "median r, smoothed |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (fps, mode, noise, name), row in rows.items():
        print(
            f"| {fps} | {mode} | {noise} | {name} | {row['n']} | {np.nanmedian(row['r0']):.3f} | "
            f"{','.join(str(p) for p in row['peak'])} | {np.nanmedian(row['smooth']):.3f} |"
        )
    print(f"\n{time.time() - t_start:.0f} s in all")


if __name__ == "__main__":
    main()
