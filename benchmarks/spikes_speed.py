"""Inference throughput of the spike models: neuron-frames per second and peak memory.

    python benchmarks/spikes_speed.py [--method sparse] [--neurons 10000] [--frames 2000] [--threads 2] [--stage]
    python benchmarks/spikes_speed.py --method cnn

Times `infer` of a spike model (sparse: the one the pipeline ships, sbm/spikes/choice.py; ar1;
the network ensemble of every band), on DF/F-like input in the `spikes` stage's blocks of 4,096
neurons. `--stage` times the whole `spikes` and `probabilities` stages instead: the dff file read,
the rates written with the per-neuron parameters, the probs file written (HDF5 on local disk).
Throughput does not depend on the trained parameters, so untrained ones are used (the pipeline's
default architecture for the network). Run one method per process: peak RSS is the process's.
The last column is the spike inference of the whole Chen et al. 2018 dataset at this speed (18
fish of about 80,000 neurons x 5,000 frames).
"""

import argparse
import resource
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from sbm.spikes.ar1 import AR1SpikeModel
from sbm.spikes.model import SpikeModel, SpikeNet, SpikeNetConfig
from sbm.spikes.sparse import SparseAR1Model
from sbm.spikes.stage import write_probabilities, write_rates

BLOCK = 4096  # neurons per block, as sbm.spikes.stage.write_rates reads them
CHEN_2018 = 18 * 80_000 * 5_000  # neuron-frames


def model_of(method: str, ensemble: int):
    if method == "sparse":
        return SparseAR1Model(2.0, g=0.8, k=0.5, gain=18.0)
    if method == "ar1":
        return AR1SpikeModel(2.0, g=0.65, gain=5.0)
    cfg = SpikeNetConfig(ensemble=ensemble)
    edges = [0, 3, 5, 8, 100]
    nets = {b: [SpikeNet(cfg).eval() for _ in range(cfg.ensemble)] for b in range(len(edges) - 1)}
    return SpikeModel(2.0, edges, cfg, nets=nets)


def write_dff(path: Path, dff: np.ndarray, noise: np.ndarray) -> None:
    """A dff file as the dff stage writes it (sbm.io.contracts.DFF), for the stage's timing."""
    T, N = dff.shape
    with h5py.File(path, "w") as f:
        f.create_dataset("dff", data=dff, chunks=(min(T, 128), min(N, 2048)))
        f.create_dataset("noise_level", data=noise.astype(np.float32))
        f.create_dataset("xyz", data=np.zeros((N, 3), np.float32))
        f.create_dataset("cell_id", data=np.arange(N))
        f.create_dataset("stimulus", data=np.zeros((T, 1), np.float32))
        f.attrs.update(subject="speed", fps=2.0, stimulus_names=["none"], behavior_names=[])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", choices=["sparse", "ar1", "cnn"], default="sparse")
    p.add_argument("--neurons", type=int, default=10_000)
    p.add_argument("--frames", type=int, default=2_000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ensemble", type=int, default=SpikeNetConfig.ensemble, help="networks per band (cnn)")
    p.add_argument("--stage", action="store_true", help="time the spikes and probabilities stages, files included")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = model_of(args.method, args.ensemble)
    rng = np.random.default_rng(0)
    dff = rng.gamma(1.0, 0.1, (args.frames, args.neurons)).astype(np.float32)
    noise = rng.uniform(1, 10, args.neurons)
    model.infer(dff[:, :256], noise[:256])  # warm-up
    if args.stage:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            write_dff(folder / "dff.h5", dff, noise)
            t0 = time.perf_counter()
            write_rates(folder / "dff.h5", model, folder / "rates.h5", "speed", block=BLOCK)
            write_probabilities(folder / "rates.h5", folder / "dff.h5", folder / "probs.h5")
            seconds = time.perf_counter() - t0
    else:
        t0 = time.perf_counter()
        for start in range(0, args.neurons, BLOCK):
            model.infer(dff[:, start : start + BLOCK], noise[start : start + BLOCK])
        seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    speed = args.neurons * args.frames / seconds
    header = ["method", "timed", "neurons", "frames", "threads", "wall time (s)", "neuron-frames/s", "peak RSS (MiB)"]
    row = [model.method, "stages, HDF5" if args.stage else "infer", f"{args.neurons:,}", f"{args.frames:,}"]
    row += [str(args.threads), f"{seconds:.2f}", f"{speed:,.0f}", f"{peak:,.0f}", f"{CHEN_2018 / speed / 60:.1f} min"]
    print("| " + " | ".join([*header, "18 Chen fish"]) + " |\n" + "|---" * (len(header) + 1) + "|")
    print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
