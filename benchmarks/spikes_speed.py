"""Inference throughput of the spike models: neuron-frames per second and peak memory.

    python benchmarks/spikes_speed.py [--method ar1] [--neurons 10000] [--frames 2000] [--threads 2]
    python benchmarks/spikes_speed.py --method cnn

Times `infer` of the AR(1) model (the one the pipeline ships, sbm/spikes/choice.py) or of the
network ensemble of every band, on DF/F-like input in the `spikes` stage's blocks of 4,096
neurons. Throughput does not depend on the trained parameters, so untrained ones are used (the
pipeline's default architecture for the network). Run one method per process: peak RSS is the
process's. The last column is the spike inference of the whole Chen et al. 2018 dataset at this
speed (18 fish of about 80,000 neurons x 5,000 frames).
"""

import argparse
import resource
import time

import numpy as np
import torch

from sbm.spikes.ar1 import AR1SpikeModel
from sbm.spikes.model import SpikeModel, SpikeNet, SpikeNetConfig

BLOCK = 4096  # neurons per block, as sbm.spikes.stage.write_rates reads them
CHEN_2018 = 18 * 80_000 * 5_000  # neuron-frames


def model_of(method: str, ensemble: int):
    if method == "ar1":
        return AR1SpikeModel(2.0, g=0.65, gain=5.0)
    cfg = SpikeNetConfig(ensemble=ensemble)
    edges = [0, 3, 5, 8, 100]
    nets = {b: [SpikeNet(cfg).eval() for _ in range(cfg.ensemble)] for b in range(len(edges) - 1)}
    return SpikeModel(2.0, edges, cfg, nets=nets)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", choices=["ar1", "cnn"], default="ar1")
    p.add_argument("--neurons", type=int, default=10_000)
    p.add_argument("--frames", type=int, default=2_000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ensemble", type=int, default=SpikeNetConfig.ensemble, help="networks per band (cnn)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = model_of(args.method, args.ensemble)
    rng = np.random.default_rng(0)
    dff = rng.gamma(1.0, 0.1, (args.frames, args.neurons)).astype(np.float32)
    noise = rng.uniform(1, 10, args.neurons)
    model.infer(dff[:, :256], noise[:256])  # warm-up
    t0 = time.perf_counter()
    for start in range(0, args.neurons, BLOCK):
        model.infer(dff[:, start : start + BLOCK], noise[start : start + BLOCK])
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    speed = args.neurons * args.frames / seconds
    print("| method | neurons | frames | threads | wall time (s) | neuron-frames/s | peak RSS (MiB) | 18 Chen fish |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {model.method} | {args.neurons:,} | {args.frames:,} | {args.threads} | {seconds:.2f} | {speed:,.0f} | "
        f"{peak:,.0f} | {CHEN_2018 / speed / 60:.1f} min |"
    )


if __name__ == "__main__":
    main()
