"""How close are each spike model's probabilities to the simulator's true ones, on the held-out fish?

    python benchmarks/spikes_vs_true_rate.py results/synthetic [--config config/config.yaml]

Pearson r, the ground-truth benchmark's score, sees neither the scale nor the variance of lambda;
the SBM learns from p = 1 - exp(-lambda) itself. This trains every spike model (the sparse AR(1),
the AR(1) with its offset and the network, with the config's `spikes` settings) on simulated
calibration fish at the held-out fish's frame rate, as the `spike_model` rule does, infers the
held-out fish's DF/F (results/<dataset>/dff) and scores p against the simulator's true
probability of a spike of the same neurons and frames: MAE, mean p over the true mean, the median
over neurons of Pearson r, the mean p of frames without a true spike beside the fraction of frames
with one, and the model's floor (p of a frame whose DF/F sits still). The last row is the
pipeline's own probs file, whichever model wrote it.
"""

import argparse
import tempfile
from pathlib import Path

import h5py
import numpy as np
import torch

from sbm.data.split import read_split
from sbm.eval.truth import read_truth
from sbm.spikes.ar1 import train_ar1_model
from sbm.spikes.ground_truth import synthetic_training_traces
from sbm.spikes.metrics import pearson_columns
from sbm.spikes.model import SpikeNetConfig, train_model
from sbm.spikes.sparse import train_sparse_model
from sbm.spikes.stage import spike_probability
from sbm.workflow import read_config


def spikes_settings(config_path: Path) -> tuple[dict, dict, dict]:
    """The config's synthetic, spikes and dff sections, the schema's defaults filled in."""
    config = read_config(config_path)
    return config["synthetic"], config["spikes"], config["dff"]


def row(name: str, p: np.ndarray, true_p: np.ndarray, spikes: np.ndarray, floor: float) -> str:
    r = np.nanmedian(pearson_columns(p, true_p))
    silent = p[spikes == 0].mean()
    cells = [f"{np.abs(p - true_p).mean():.4f}", f"{p.mean() / true_p.mean():.3f}", f"{r:.3f}"]
    cells += [f"{silent:.3f} / {(spikes > 0).mean():.3f}", f"{floor:.3f}"]
    return f"| {name} | " + " | ".join(cells) + " |"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path, help="results/<dataset> of a simulated dataset")
    p.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    args = p.parse_args()
    torch.set_num_threads(2)
    synthetic, settings, dff_settings = spikes_settings(args.config)
    resources = Path("resources") / args.results.name / "raw"
    header = "| spike model | MAE of p against the true p | mean p / true mean p | median r(p, true p) per neuron |"
    print(header + " silent frames' mean p / fraction of frames with a spike | floor |\n" + "|---" * 6 + "|")
    for subject in read_split(args.results / "split.yaml").heldout:
        probs, dff_path = args.results / f"probs/{subject}.h5", args.results / f"dff/{subject}.h5"
        truth = read_truth(probs, resources / subject / "ground_truth.h5")
        with h5py.File(resources / subject / "ground_truth.h5") as g:
            spikes = g["spikes"][()][:, truth.columns]
        true_p = truth.prob
        with h5py.File(dff_path) as d:
            fps, dff, noise = float(d.attrs["fps"]), d["dff"][()], d["noise_level"][()]
        rate = round(fps / settings["fps_resolution"]) * settings["fps_resolution"]  # the model's grid, as the rule
        with tempfile.TemporaryDirectory() as tmp:
            traces = synthetic_training_traces(
                rate,
                synthetic,
                settings["calibration_fish"],
                settings["training_noise_levels"],
                seed=1_000_003 + settings["model"].get("seed", 0),
                workdir=tmp,
                baseline_window_s=dff_settings["baseline_window_s"],
                baseline_percentile=dff_settings["baseline_percentile"],
            )
        models = {
            "sparse": train_sparse_model(traces, rate),
            "ar1": train_ar1_model(traces, rate),
            "cnn": train_model(traces, rate, settings["noise_bands"], SpikeNetConfig.from_dict(settings["model"])),
        }
        for name, model in models.items():
            p = spike_probability(model.infer(dff, noise))
            print(row(f"{subject}: {name}", p, true_p, spikes, model.floor()), flush=True)
        with h5py.File(probs) as f:
            name = f"{subject}: the probs file ({f.attrs['method']})"
            print(row(name, f["prob"][()], true_p, spikes, float(f.attrs["floor"])))


if __name__ == "__main__":
    main()
