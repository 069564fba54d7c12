"""Causal spike inference on real neurons: leave one ground-truth dataset out, over all of them.

    python benchmarks/spikes_ground_truth.py [--ground-truth-dir ../shared/data/cascade_ground_truth]
        [--fps 2.0 2.5] [--modes average sample] [--noise native 4 8] [--ensemble 1] [--steps 500]

Every dataset folder (DS*) of the ground-truth directory is held out in turn. Every method is fitted
on all the *other* datasets and scored on the held-out one. Both are brought to the frame rate by
frame averages or by one sample per frame. Training uses native noise plus degradation to levels
2, 3, 4, 5, 6 and 8. Testing uses the levels in --noise. Everything goes through the pipeline's own
causal DF/F (30 s, 8th percentile), as the real fish do. The traces of each dataset are built once
per frame rate and mode, and the folds reuse them.

Score: per held-out dataset, the median over neurons (trials of a neuron joined) of the Pearson r
between the estimate and the spike counts of the same frame (lag 0). Summary per method:
  - the median of those per-dataset scores;
  - on how many held-out datasets the method is the best causal one;
  - the median over the zebrafish GCaMP6f sets (DS06-DS08), closest to the light-sheet data.
`spikes ratio` is, for the network (whose output is spikes per frame), the held-out set's mean
inferred over true spikes per frame. The other methods are in DF/F units and have no scale.

Methods:
  - cnn: the pipeline's causal network ensemble (look-ahead 0);
  - first_difference: a causal first difference;
  - ar1: a causal AR(1) deconvolution, its g fitted on the training datasets for the median r;
  - linear8: an 8-frame causal linear filter fitted by least squares;
  - oasis (non-causal): a reference that needs no training, scored at native noise only.
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from sbm.spikes.baselines import LinearFilter, ar1_deconvolution, first_difference, fit_ar1, oasis
from sbm.spikes.ground_truth import frame_traces, load_cascade
from sbm.spikes.metrics import lagged_r
from sbm.spikes.model import SpikeNetConfig, train_model

BANDS = [0, 3, 5, 8, 100]
TRAIN_NOISE = [2, 3, 4, 5, 6, 8]
ZEBRAFISH_GCAMP6F = "GCaMP6f-zf"
NON_CAUSAL = "oasis (non-causal)"


def median_r(traces, estimates) -> float:
    """Median over neurons of r at lag 0, the trials of each neuron joined."""
    joined = {}
    for t, est in zip(traces, estimates):
        e, c = joined.setdefault(t.name.split("#")[0], ([], []))
        e.append(est)
        c.append(t.counts)
    r = [lagged_r(np.concatenate(e)[:, None], np.concatenate(c)[:, None], 0)[0] for e, c in joined.values()]
    return float(np.nanmedian(r))


def dataset_traces(recordings, fps, mode, test_noise):
    """Per dataset: its training traces (native and degraded) and its test traces per noise level."""
    out = {}
    for name, recs in recordings.items():
        rng = np.random.default_rng(0)
        train = [t for nu in [None, *TRAIN_NOISE] for t in frame_traces(recs, fps, mode, nu, rng)]
        rng = np.random.default_rng(1)
        test = {
            nu: [t for t in frame_traces(recs, fps, mode, None if nu == "native" else float(nu), rng) if np.ptp(t.dff)]
            for nu in test_noise
        }
        out[name] = (train, test)
    return out


def fit_methods(train, fps, cfg):
    dffs, counts = [t.dff for t in train], [t.counts for t in train]
    g = fit_ar1(dffs, counts)
    lin = LinearFilter.fit(dffs, counts, taps=8)
    cnn = train_model(train, fps, BANDS, cfg)
    return {
        "cnn": lambda t: cnn.infer(t.dff[:, None], np.array([t.noise]))[0][:, 0],
        "first_difference": lambda t: first_difference(t.dff),
        "ar1": lambda t: ar1_deconvolution(t.dff, g),
        "linear8": lambda t: lin.apply(t.dff),
        NON_CAUSAL: lambda t: oasis(t.dff, fps),
    }


def print_tables(scores, ratios, datasets):
    """scores[(fps, mode, noise)][held][method] -> r; ratios[(fps, mode, noise)][held] -> cnn ratio."""
    for (fps, mode, noise), table in scores.items():
        methods = list(next(iter(table.values())))
        print(f"\n### {fps} Hz, {mode}, noise {noise}: median r at lag 0 per held-out dataset\n")
        print("| held-out dataset | " + " | ".join(methods) + " | cnn spikes ratio |")
        print("|---" * (len(methods) + 2) + "|")
        matrix = np.array([[table[h].get(m, np.nan) for m in methods] for h in table])
        for h, row in zip(table, matrix):
            cells = [f"{v:.3f}" if np.isfinite(v) else "-" for v in row]
            print(f"| {h} | " + " | ".join(cells) + f" | {ratios[(fps, mode, noise)][h]:.2f} |")
        causal = [i for i, m in enumerate(methods) if m != NON_CAUSAL]
        best = np.array(causal)[np.nanargmax(matrix[:, causal], axis=1)]
        zf = [i for i, h in enumerate(table) if ZEBRAFISH_GCAMP6F in h]
        print(
            "| **median over held-out datasets** | " + " | ".join(f"{np.nanmedian(c):.3f}" for c in matrix.T) + " | |"
        )
        print(
            "| **best causal on (datasets)** | "
            + " | ".join(str(int((best == i).sum())) for i in range(len(methods)))
            + " | |"
        )
        if zf:
            print(
                "| **median over zebrafish GCaMP6f** | "
                + " | ".join(f"{np.nanmedian(c[zf]):.3f}" for c in matrix.T)
                + " | "
                + ", ".join(f"{ratios[(fps, mode, noise)][datasets[i]]:.2f}" for i in zf)
                + " |"
            )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--ground-truth-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/cascade_ground_truth")
    )
    p.add_argument("--fps", type=float, nargs="+", default=[2.0, 2.5])
    p.add_argument("--modes", nargs="+", default=["average", "sample"])
    p.add_argument("--noise", nargs="+", default=["native", "4", "8"], help="test noise levels")
    p.add_argument("--ensemble", type=int, default=1, help="networks per noise band (the pipeline's default: 2)")
    p.add_argument("--steps", type=int, default=500, help="steps per network (the pipeline's default: 500)")
    args = p.parse_args()
    torch.set_num_threads(2)
    datasets = sorted(d for d in os.listdir(args.ground_truth_dir) if d.startswith("DS"))
    recordings = load_cascade(args.ground_truth_dir, datasets)
    cfg = SpikeNetConfig(ensemble=args.ensemble, steps=args.steps)
    scores, ratios = {}, {}
    t_start = time.time()
    for fps in args.fps:
        for mode in args.modes:
            traces = dataset_traces(recordings, fps, mode, args.noise)
            for held in datasets:
                train = [t for d in datasets if d != held for t in traces[d][0]]
                methods = fit_methods(train, fps, cfg)
                for noise in args.noise:
                    test = traces[held][1][noise]
                    row = scores.setdefault((fps, mode, noise), {}).setdefault(held, {})
                    for name, method in methods.items():
                        if name == NON_CAUSAL and noise != "native":
                            continue
                        estimates = [method(t) for t in test]
                        row[name] = median_r(test, estimates)
                        if name == "cnn":
                            total = sum(t.counts.sum() for t in test)
                            ratios.setdefault((fps, mode, noise), {})[held] = sum(e.sum() for e in estimates) / total
                print(f"  done {fps} Hz {mode} held-out {held} ({time.time() - t_start:.0f} s)", flush=True)
    print_tables(scores, ratios, datasets)
    print(f"\n{time.time() - t_start:.0f} s in all")


if __name__ == "__main__":
    main()
