"""Time and peak memory of the DF/F stage on one fish folder in the Chen layout (e.g. paper scale).

    python benchmarks/simulate_scale.py --out-dir /tmp/bigfish/subject_1     # 100,000 x 5,000
    python benchmarks/dff_scale.py /tmp/bigfish/subject_1

Reads the fish through the same reader as real data, computes the causal baseline block by
block and writes the dff file to a temporary folder. Prints one table row.
"""

import argparse
import resource
import tempfile
import time
from pathlib import Path

from sbm.io.chen import read_chen_fish, read_stim_codes
from sbm.spikes.dff import build_vocabulary, write_chen_dff


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("raw_dir", type=Path, help="folder with TimeSeries.h5 and data_full.mat")
    p.add_argument("--block-neurons", type=int, default=4096)
    args = p.parse_args()
    t0 = time.perf_counter()
    fish = read_chen_fish(args.raw_dir)
    vocabulary = build_vocabulary({fish.subject: read_stim_codes(args.raw_dir)})
    with tempfile.TemporaryDirectory() as tmp:
        write_chen_dff(fish, Path(tmp) / "dff.h5", vocabulary, block_neurons=args.block_neurons)
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = fish.n_neurons * fish.n_frames / seconds
    print("| neurons | frames | block | wall time (s) | neuron-frames/s | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {fish.n_neurons:,} | {fish.n_frames:,} | {args.block_neurons} | {seconds:.0f} | {rate:,.0f} | "
        f"{peak_mb:,.0f} |"
    )


if __name__ == "__main__":
    main()
