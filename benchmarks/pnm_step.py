"""What does a PNM cost at whole-brain scale: one training step, and reading a recording?

One training step as sbm/train/pnm.py takes it (forward on a batch of F-frame windows, L1 loss,
backward, clipping, AdamW) on random brains of N neurons, and `PNM.series` over T frames of one
recording (each frame pooled once), for the widths given. Median of a few repeats after a warm-up.

    python benchmarks/pnm_step.py                                  # N = 2k, 20k, 80k on the CPU
    python benchmarks/pnm_step.py --n 80000 160000 --device cuda
"""

import argparse
import statistics
import time

import torch

from sbm.model.pnm import PNM, PNMConfig


def timed(fn, device, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[2000, 20000, 80000])
    p.add_argument("--hidden", type=int, nargs="+", default=[16, 32], help="pnm.model.neuron_hidden values")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--frames", type=int, default=256, help="frames of the recording read by series")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device {args.device}, {torch.get_num_threads()} CPU threads, batch {args.batch}, 4 frames per window\n")
    print("| neurons | neuron_hidden | train step (s) | series (frames/s) |")
    print("|---|---|---|---|")
    for n in args.n:
        g = torch.Generator().manual_seed(0)
        prob, xyz = torch.rand(args.batch, 4, n, generator=g), torch.rand(args.batch, n, 3, generator=g) * 2 - 1
        recording = torch.rand(args.frames, n, generator=g)
        mask, target = torch.ones(args.batch, n, dtype=torch.bool), torch.rand(args.batch, generator=g)
        prob, xyz, mask, target = (t.to(args.device) for t in (prob, xyz, mask, target))
        for hidden in args.hidden:
            model = PNM(PNMConfig(neuron_hidden=hidden)).to(args.device)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

            def step():
                loss = (model(prob, xyz, mask) - target).abs().mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()

            step_s = timed(step, args.device, args.repeats)
            if args.device == "cpu":  # series runs where its inputs are: the CPU path of evaluation
                series_s = timed(lambda: model.series(recording, xyz[0].cpu()), "cpu", args.repeats)
                series = f"{args.frames / series_s:,.0f}"
            else:
                series = "-"
            print(f"| {n:,} | {hidden} | {step_s:.3f} | {series} |", flush=True)


if __name__ == "__main__":
    main()
