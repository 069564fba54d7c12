"""Training the SBM: one plain loop, resumable from the run folder, single process or DDP.

Muon on the body's matrices and AdamW on the rest, a warmup-cosine schedule per batch, gradient
clipping, bf16 autocast and TF32 on CUDA, validation several times per epoch on the validation
fish with the best weights kept. Everything needed to continue lives in `<run_dir>/ckpt.pt`,
written atomically; a rerun after a kill continues from it and ends with the same weights as an
uninterrupted run. Under `torchrun` each process takes every world-th window of the same epoch
order and DDP averages the gradients (gloo on CPU, NCCL on CUDA).
"""

import csv
import logging
import math
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from sbm.data.windows import (
    Windows,
    check_frame_rates,
    check_long_enough,
    check_same_stimuli,
    collate,
    context_frames,
    epoch_batches,
    far_targets,
    model_inputs,
    open_probs,
    spaced_windows,
)
from sbm.io.atomic import atomic_path
from sbm.io.errors import InputError
from sbm.model.forecast import abs_error, persistence, rollout, sbm_forecaster, silence_unseen_inputs
from sbm.model.sbm import SBM, SBMConfig, body_matrices, load_weights, masked_bce, save_weights, update_centroids
from sbm.settings import from_dict

log = logging.getLogger(__name__)

METRICS = [
    "step",
    "epoch",
    "train_loss",
    "val_loss",
    "val_mae",
    "val_persistence_mae",
    "lr_muon",
    "lr_adamw",
    "elapsed_s",
]


@dataclass
class TrainConfig:
    """The config's `sbm.train` section."""

    batch_size: int = 8  # windows per optimiser step, over all processes
    epochs: int = 10
    max_steps: int = 0  # stop after this many steps in all (0: run every epoch)
    stride: int = 1  # frames between window starts
    warmup: float = 0.05  # fraction of the steps with a linear learning-rate ramp
    muon_lr: float = 0.02
    adamw_lr: float = 5e-4
    betas: tuple = (0.9, 0.95)
    weight_decay: float = 1e-4
    clip: float = 1.0
    # Against the drift of rollouts, where the model reads its own forecasts: this share of the
    # training windows gets its last k frames (k uniform in 1 .. context - 1) replaced by the
    # model's forecasts of them (forward passes without gradients, below); the targets stay the
    # recorded frames. 0: every window is read as recorded.
    own_forecasts: float = 0.0
    # Forward passes that make those forecasts. Pass j reads the frames pass j - 1 made, so after n
    # passes the first n of the k frames are exactly the model's free rollout (each forecast read
    # from its own earlier forecasts, as in a rollout) and later ones approximate it; 1: each
    # forecast is read from recorded frames only.
    own_forecast_passes: int = 1
    # Weight of the auxiliary head's loss (the frames sbm.model.aux_horizons ahead) beside the next
    # frame's; unused without such a head.
    aux_weight: float = 1.0
    # Frames the model rolls out from each training window's first C frames, reading its own
    # forecasts, with gradients through every step, scored (BCE) against the recorded frames: pays
    # the one-step map for what compounds over several frames, the other populations' drive among
    # it. 0: none. Each step costs about 1 + this many forward and backward passes; single process.
    rollout_loss_steps: int = 0
    rollout_loss_weight: float = 1.0  # its weight beside the next frame's loss
    val_per_epoch: int = 4  # validations per epoch (and one at the end)
    val_windows: int = 256  # evenly spaced windows of the validation fish
    ckpt_every: int = 50  # steps between ckpts in the run folder (also after every validation)
    # Keep the weights of every validation step in the run folder (weights-step<N>.pt, loadable
    # like the final weights): the learning curves of benchmarks/sbm_learning_curves.py.
    snapshots: bool = False
    bf16: bool = True  # autocast the body to bf16 on CUDA (logits and loss stay fp32)
    compile: bool = False  # torch.compile the model
    checkpointing: bool = False  # recompute each block's activations in the backward pass (memory for large N)
    seed: int = 0
    # Fish whose frame rate is further than this share from the training fish's median are refused
    # (here, and the held-out fish in the evaluation): the model's context is a number of frames.
    fps_tolerance: float = 0.5  # the paper's 18 fish (1.84-2.56 Hz) all lie within it of any of them

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return from_dict(cls, d, "sbm.train")


def warmup_cosine(total: int, warmup: float):
    """Learning-rate factor per step: linear ramp over the first `warmup` of the steps, then cosine to 0."""
    ramp = max(1, round(total * warmup))

    def factor(step: int) -> float:
        if step < ramp:
            return (step + 1) / ramp
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - ramp) / max(1, total - ramp))))

    return factor


def distributed() -> tuple[int, int]:
    """(rank, world size); joins the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def load_fish(paths: list[str]) -> list:
    fishes = [open_probs(p, 2) for p in paths]
    check_same_stimuli(fishes)
    return fishes


@torch.no_grad()
def validate(model, batches: list[list[int]], windows: Windows, device, autocast) -> dict:
    """Masked BCE over all steps, and MAE of the forecast of each window's last frame beside
    persistence (the last frame carried forward); sums reduced over processes."""
    if not batches:
        raise ValueError("no validation windows for this process: raise sbm.train.val_windows")
    model.eval()
    # bce * tokens, tokens, |error| and |persistence error| at each window's last frame, neurons there
    sums = torch.zeros(5, dtype=torch.float64, device=device)
    for idx in batches:
        batch = {k: v.to(device) for k, v in collate([windows[i] for i in idx]).items()}
        inputs, target = model_inputs(batch)
        with autocast:
            logits = model(*inputs)
        mask = batch["mask"]
        tokens = mask.sum() * target.shape[1]
        last = target[:, -1]
        sums += torch.stack(
            [
                (masked_bce(logits, target, mask) * tokens).double(),
                tokens.double(),
                abs_error(torch.sigmoid(logits[:, -1]), last, mask).sum(),
                abs_error(persistence(*inputs), last, mask).sum(),
                mask.sum().double(),
            ]
        )
    if dist.is_initialized():
        dist.all_reduce(sums)
    model.train()
    return {
        "val_loss": float(sums[0] / sums[1]),
        "val_mae": float(sums[2] / sums[4]),
        "val_persistence_mae": float(sums[3] / sums[4]),
    }


def train(
    model_cfg: SBMConfig,
    cfg: TrainConfig,
    train_paths: list[str],
    val_paths: list[str],
    run_dir,
    out_path,
    device: str = "cpu",
    extra: dict | None = None,
    progress: bool = True,
    init=None,
    train_frames: tuple[int, int] | None = None,
    val_frames: tuple[int, int] | None = None,
) -> dict:
    """Train (or continue training) and write the best weights to `out_path`. Returns a summary.

    A fine-tune (sbm.eval.adapt): `init` names trained weights to start from (of the same model
    config), validated before the first step so that they stay the best unless training beats
    them; `train_frames` and `val_frames` (first, stop) restrict the windows of the training and
    of the validation fish to those frames."""
    rank, world = distributed()
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} does not split over {world} processes")
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if device == "cuda" else device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" and cfg.bf16 else nullcontext()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)

    train_fish = load_fish(train_paths)
    val_fish = load_fish(val_paths)
    check_same_stimuli(train_fish + val_fish)
    context_s = model_cfg.context_s  # resolved to frames once, here; the saved config holds the frames
    model_cfg = replace(model_cfg, context=context_frames(model_cfg.context, context_s, train_fish), context_s=None)
    check_long_enough(train_fish + val_fish, model_cfg.context)
    fps = float(np.median([f.fps for f in train_fish]))
    check_frame_rates(
        {f.path: f.fps for f in train_fish + val_fish}, fps, cfg.fps_tolerance, "the training fish's median"
    )
    model_cfg = replace(model_cfg, n_stimuli=len(train_fish[0].stimulus_names))
    # What the evaluations need to know of the data beside the weights (saved with them).
    data = {
        "stimulus_names": train_fish[0].stimulus_names,
        "context": model_cfg.context,
        "context_s": context_s,  # as configured (None: set in frames)
        "fps": fps,  # the training fish's median frame rate: fish far from it are refused
        "positions": "per fish: centred on the bounding box, divided by the largest half-extent",
    }
    # Training windows reach as far as the farthest target: C input frames, then targets up to
    # max(aux_horizons, rollout_loss_steps) frames after the last of them.
    span = model_cfg.context + max(*model_cfg.aux_horizons, cfg.rollout_loss_steps, 1) - 1
    if cfg.rollout_loss_steps and world > 1:
        raise ValueError("sbm.train.rollout_loss_steps runs in a single process (several forwards per step under DDP)")
    check_long_enough(train_fish, span)
    windows = Windows(train_fish, span, cfg.stride, frames=train_frames)
    val_windows = Windows(val_fish, model_cfg.context, frames=val_frames)
    if not len(windows) or not len(val_windows):
        raise InputError(
            train_paths[0],
            f"no window of {span + 1} (training) or {model_cfg.context + 1} (validation) frames in "
            f"{train_frames} / {val_frames}",
        )
    per_rank = cfg.batch_size // world
    val_idx = spaced_windows(val_windows, cfg.val_windows)[rank::world]
    val_batches = [val_idx[i : i + per_rank] for i in range(0, len(val_idx), per_rank)]
    steps_per_epoch = len(epoch_batches(windows, per_rank, 0, cfg.seed, rank, world))
    total = cfg.epochs * steps_per_epoch if cfg.max_steps == 0 else min(cfg.max_steps, cfg.epochs * steps_per_epoch)
    val_every = max(1, steps_per_epoch // cfg.val_per_epoch)

    mean_prob = sum(f.mean_prob * f.n_frames * f.n_neurons for f in train_fish) / sum(
        f.n_frames * f.n_neurons for f in train_fish
    )
    if model_cfg.prob_scale == 0:  # resolved once, here, like the context; saved with the weights
        model_cfg = replace(model_cfg, prob_scale=mean_prob)
    data["train_mean_prob"] = mean_prob
    torch.manual_seed(cfg.seed)
    model = SBM(model_cfg)
    # Start the decoder at the training fish's mean probability, so early steps learn dynamics
    # rather than the base rate (a fresh run only: a resumed one loads its weights below).
    torch.nn.init.constant_(model.head.bias, math.log(mean_prob / (1 - mean_prob)))
    silence_unseen_inputs(model.stimulus_embed, windows.stimuli_seen())
    if init is not None:
        trained, state = load_weights(init)
        if asdict(trained.cfg) != asdict(model_cfg) or state["data"]["stimulus_names"] != train_fish[0].stimulus_names:
            raise InputError(init, "its model config or stimulus columns differ from the fish it would be tuned on")
        model.load_state_dict(trained.state_dict())
    model = model.to(device)
    model.checkpointing = cfg.checkpointing
    muon_params, adamw_params = body_matrices(model)
    optimizers = [
        torch.optim.Muon(muon_params, lr=cfg.muon_lr, weight_decay=cfg.weight_decay),
        torch.optim.AdamW(adamw_params, lr=cfg.adamw_lr, betas=cfg.betas, weight_decay=cfg.weight_decay),
    ]
    schedules = [torch.optim.lr_scheduler.LambdaLR(o, warmup_cosine(total, cfg.warmup)) for o in optimizers]
    # The step kept is the one with the lowest validation MAE of the forecast of each window's last
    # frame: the metric the evaluation reports, and the rule of every trained forecaster (POCO,
    # ridge, the MLP); the loss (BCE) is what the steps descend.
    step, best = 0, {"val_loss": math.inf, "val_mae": math.inf, "step": -1}
    ckpt_path, best_path, metrics_path = run_dir / "ckpt.pt", run_dir / "best.pt", run_dir / "metrics.csv"
    data_id = [
        fingerprint(train_paths + val_paths + ([str(init)] if init is not None else [])),
        train_frames,
        val_frames,
    ]
    state = torch.load(ckpt_path, map_location=device, weights_only=False) if ckpt_path.exists() else None
    if state is not None:
        if state["config"] != asdict(model_cfg) or state["train"] != asdict(cfg) or state["world"] != world:
            raise InputError(
                ckpt_path,
                "was written with other settings (model, training or process count): delete the run folder "
                "to start over",
            )
        if state["data_id"] != data_id:  # the data were rebuilt: the ckpt belongs to other data
            log.warning("%s: the probs files changed since this ckpt was written; training starts over", ckpt_path)
            state = None
    if state is not None:
        model.load_state_dict(state["model"])
        for o, s in zip(optimizers, state["optimizers"]):
            o.load_state_dict(s)
        for sc, s in zip(schedules, state["schedules"]):
            sc.load_state_dict(s)
        step, best = state["step"], state["best"]
        log.info("resumed from %s at step %d of %d", ckpt_path, step, total)
    if rank == 0:
        keep_metrics_until(metrics_path, step)  # after a fresh start, step 0: an empty log

    net = torch.compile(model) if cfg.compile else model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None
        )

    def save_ckpt():
        if rank == 0:
            with atomic_path(ckpt_path) as tmp:
                torch.save(
                    {
                        "model": model.state_dict(),
                        "optimizers": [o.state_dict() for o in optimizers],
                        "schedules": [s.state_dict() for s in schedules],
                        "step": step,
                        "best": best,
                        "config": asdict(model_cfg),
                        "train": asdict(cfg),
                        "world": world,
                        "data_id": data_id,
                    },
                    tmp,
                )

    log.info(
        "%d train windows (%d fish), %d validation windows (%d fish); %d steps of %d windows on %d "
        "process(es); %.2f M parameters",
        len(windows),
        len(train_fish),
        len(val_idx) * world,
        len(val_fish),
        total,
        cfg.batch_size,
        world,
        sum(p.numel() for p in model.parameters()) / 1e6,
    )
    first_step = step
    if init is not None and step == 0:  # a fine-tune keeps its starting weights unless training beats them
        row = {"step": 0, "epoch": 0, **validate(model, val_batches, val_windows, device, autocast)}
        if rank == 0:
            keep_metrics_until(metrics_path, -1)  # a fresh start: no old step-0 row
        best = {"val_loss": row["val_loss"], "val_mae": row["val_mae"], "step": 0}
        if rank == 0:
            with atomic_path(best_path) as tmp:
                save_weights(model, tmp)
            append_metrics(metrics_path, row)
    start_time = time.time()
    bar = tqdm(total=total, initial=step, disable=not progress or rank != 0, desc="train SBM", unit="step")
    while step < total:
        epoch, skip = divmod(step, steps_per_epoch)
        for idx in epoch_batches(windows, per_rank, epoch, cfg.seed, rank, world)[skip:]:
            batch = {k: v.to(device, non_blocking=True) for k, v in collate([windows[i] for i in idx]).items()}
            inputs, target = model_inputs(batch, model_cfg.context)
            if cfg.own_forecasts > 0:
                rng = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)  # per step: resumes alike
                with autocast:
                    inputs = with_own_forecasts(
                        model, inputs, cfg.own_forecasts, rng, rank, world, cfg.own_forecast_passes
                    )
            with autocast:
                out = net(*inputs, aux=bool(model_cfg.aux_horizons))
            logits, far = out if model_cfg.aux_horizons else (out, None)
            loss = next_loss = masked_bce(logits, target, batch["mask"])
            if far is not None:  # (B, C, N, A) -> (B, A * C, N): one masked mean over every horizon
                far_target = far_targets(batch, model_cfg.context, model_cfg.aux_horizons)
                B, _, N, _ = far.shape
                flat = (t.permute(0, 3, 1, 2).reshape(B, -1, N) for t in (far, far_target))
                loss = next_loss + cfg.aux_weight * masked_bce(*flat, batch["mask"])
            if cfg.rollout_loss_steps:  # from the recorded first C frames, whatever own_forecasts did
                R, C = cfg.rollout_loss_steps, model_cfg.context
                with autocast:
                    rolled = rollout(
                        sbm_forecaster(net), batch["prob"][:, :C], batch["xyz"], batch["stimulus"][:, : C + R],
                        batch["mask"], R, grad=True,
                    )  # fmt: skip
                logits_r = torch.logit(rolled.float().clamp(1e-6, 1 - 1e-6))
                loss = loss + cfg.rollout_loss_weight * masked_bce(
                    logits_r, batch["target"][:, C : C + R], batch["mask"]
                )
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite training loss at step {step}: lower the learning rates")
            for o in optimizers:
                o.zero_grad(set_to_none=True)
            # DDP averages gradients over processes; weighting each process's mean by its share of
            # the tokens makes that average the mean over every token of the global batch.
            share = token_share(batch["mask"].sum() * target.shape[1], world)
            (loss * share).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            for o, s in zip(optimizers, schedules):
                o.step()
                s.step()
            update_centroids(model, dist.all_reduce if world > 1 else None)
            step += 1
            bar.update()
            row = {
                "step": step,
                "epoch": epoch,
                "train_loss": global_mean(next_loss.detach() * share, world),  # the next frame's, as validated
                "lr_muon": schedules[0].get_last_lr()[0],
                "lr_adamw": schedules[1].get_last_lr()[0],
                "elapsed_s": round(time.time() - start_time, 2),
            }
            if step % val_every == 0 or step == total:
                row.update(validate(model, val_batches, val_windows, device, autocast))
                bar.set_postfix(val_loss=f"{row['val_loss']:.4f}", val_mae=f"{row['val_mae']:.4f}")
                # A finite loss too: saturated forecasts of non-finite weights can have a finite MAE.
                if math.isfinite(row["val_loss"]) and row["val_mae"] < best.get("val_mae", math.inf) and rank == 0:
                    best = {"val_loss": row["val_loss"], "val_mae": row["val_mae"], "step": step}
                    with atomic_path(best_path) as tmp:
                        save_weights(model, tmp)
                if cfg.snapshots and rank == 0:
                    with atomic_path(run_dir / f"weights-step{step:06d}.pt") as tmp:
                        fish = {
                            "train_fish": [f.subject for f in train_fish],
                            "val_fish": [f.subject for f in val_fish],
                        }
                        training = {"step": step, **fish, "settings": asdict(cfg)}
                        save_weights(model, tmp, data=data, training=training, **(extra or {}))
                if world > 1:  # every rank keeps the same record of the best step
                    shared = [best]
                    dist.broadcast_object_list(shared, src=0)
                    best = shared[0]
            if rank == 0:
                append_metrics(metrics_path, row)
            if step % cfg.ckpt_every == 0 or "val_loss" in row or step == total:
                save_ckpt()
            if step == total:
                break
    bar.close()

    summary = {
        "steps": total,
        "steps_run": total - first_step,  # in this call (0: the run was already complete)
        "best": best,
        "train_fish": [f.subject for f in train_fish],
        "val_fish": [f.subject for f in val_fish],
    }
    if rank == 0:
        if not best_path.exists():  # every validation loss was NaN: nothing to keep
            raise InputError(
                run_dir,
                f"no validation of the {total} steps gave a finite loss and MAE, so there are no best weights: lower "
                "the learning rates",
            )
        best_state = torch.load(best_path, map_location="cpu", weights_only=False)
        model.load_state_dict(best_state["model"])
        with atomic_path(out_path) as tmp:
            save_weights(model.cpu(), tmp, data=data, training={**summary, "settings": asdict(cfg)}, **(extra or {}))
        log.info(
            "best validation MAE %.5f (loss %.5f) at step %d; weights in %s",
            best["val_mae"],
            best["val_loss"],
            best["step"],
            out_path,
        )
    if world > 1:
        dist.barrier()
    return summary


@torch.no_grad()
def with_own_forecasts(
    model: SBM, inputs: tuple, share: float, rng: torch.Generator, rank: int = 0, world: int = 1, passes: int = 1
) -> tuple:
    """The model inputs with, in about `share` of the windows, the last k frames (k uniform in
    1 .. C - 1) replaced by the model's forecasts of them: step t of a forward pass forecasts frame
    t + 1 from frames <= t, and each of the `passes` passes reads the frames the pass before made,
    so that after n passes the first n replaced frames are the model's free rollout from the
    recorded frames before them (TrainConfig.own_forecasts). The draws are made for the global
    batch and each process takes its windows' (every world-th, as epoch_batches deals them), so DDP
    draws what one process would."""
    prob, xyz, stimulus, mask = inputs
    B, C, _ = prob.shape
    chosen = (torch.rand(B * world, generator=rng) < share)[rank::world]
    k = torch.randint(1, max(C, 2), (B * world,), generator=rng)[rank::world]
    if C < 2 or not bool(chosen.any()):
        return inputs
    # Only the chosen windows are run (windows are independent), and no more passes than their
    # largest k: later passes would return the same frames.
    rows = chosen.nonzero().squeeze(1).to(prob.device)
    k = k[chosen].to(prob.device)
    # Frame t (t >= 1) of a chosen window becomes forecast[:, t - 1] where t >= C - k.
    fed = (torch.arange(C, device=prob.device)[None, :] >= (C - k)[:, None])[:, 1:, None]  # (b, C - 1, 1)
    recorded, own = prob[rows], prob[rows]
    for _ in range(min(passes, int(k.max()))):
        forecast = torch.sigmoid(model(own, xyz[rows], stimulus[rows], mask[rows])).to(prob.dtype)  # (b, C, N)
        own = recorded.clone()
        own[:, 1:] = torch.where(fed, forecast[:, :-1], recorded[:, 1:])
    new = prob.clone()
    new[rows] = own
    return new, xyz, stimulus, mask


def fingerprint(paths: list[str]) -> list:
    """Name, size and modification time of each input: a rebuilt file does not match its old self."""
    return [(Path(p).name, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in paths]


def token_share(tokens: torch.Tensor, world: int) -> torch.Tensor:
    """world * (this process's tokens) / (all processes' tokens); 1 in a single process."""
    if world == 1:
        return torch.ones((), device=tokens.device)
    total = tokens.clone().float()
    dist.all_reduce(total)
    return world * tokens.float() / total


def global_mean(value: torch.Tensor, world: int) -> float:
    if world > 1:
        value = value.clone()
        dist.all_reduce(value)
        value /= world
    return value.item()


def keep_metrics_until(path: Path, step: int) -> None:
    """After a resume, drop the rows a killed run logged beyond its last ckpt (they are redone)."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, METRICS)
        writer.writeheader()
        writer.writerows(rows)


def append_metrics(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, METRICS)
        if new:
            writer.writeheader()
        writer.writerow(row)
