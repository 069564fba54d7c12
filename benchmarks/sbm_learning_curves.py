"""Is the SBM trained to convergence, and does what it knows of the wiring grow with training?

Learning curves on the validation fish of the known-answer ladder (config/ladder.yaml, after
`python benchmarks/interactions_ladder.py` has built the rungs' probs files): the SBM of the
config, with each variant's model settings, trained on the rung's training fish with its weights
kept at every validation (sbm.train.snapshots); at chosen steps, on every validation fish: the
validation loss (BCE against the rung's targets), the next-step MAE against the simulator's truth,
the attention against the true wiring (connectome AUROC) and the in-silico experiments against the
simulator's replay (responder AUROC and map r). Nothing reads the held-out fish.

    python benchmarks/sbm_learning_curves.py --from-ladder --rungs clean inferred   # the ladder's own SBMs
    python benchmarks/sbm_learning_curves.py --rungs clean --variants paper dense --steps 2400   # trained here, longer
    python benchmarks/sbm_learning_curves.py --plot-only      # the table and figure of curves already run

Writes benchmarks/out/learning_curves/<rung>-<variant>/ (the training run, curve.csv) and
learning_curves.png beside them. Snapshots are chosen nearest the steps asked for (--at).
"""

import argparse
import csv
import json
import sys
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from sbm.data.windows import Windows, collate, model_inputs, open_probs, spaced_windows  # noqa: E402
from sbm.eval.connectome import attention_influence, auroc  # noqa: E402
from sbm.eval.insilico import InsilicoConfig, insilico_fish, simulator_replay, summarise_scores  # noqa: E402
from sbm.eval.truth import read_truth  # noqa: E402
from sbm.model.forecast import abs_error  # noqa: E402
from sbm.model.sbm import SBMConfig, load_weights  # noqa: E402
from sbm.synth.fish import SimConfig  # noqa: E402
from sbm.train.sbm import TrainConfig, train  # noqa: E402
from sbm.workflow import read_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Model settings of each variant, over the config's sbm.model (and under "train", training
# settings over its sbm.train).
VARIANTS = {
    "paper": {"spatial": "routed", "token_history": 1, "block_order": "spatial_first"},
    "dense": {"spatial": "dense", "token_history": 1, "block_order": "spatial_first"},
    "history": {"spatial": "routed", "token_history": 12, "block_order": "spatial_first"},
    "dense_history": {"spatial": "dense", "token_history": 12, "block_order": "temporal_first"},
    # The paper's model with an auxiliary head trained on frames 4 and 16 ahead (sbm.model.aux_horizons).
    "far": {"spatial": "routed", "token_history": 1, "block_order": "spatial_first", "aux_horizons": [4, 16]},
    # The paper's model, also trained on 4-frame rollouts of its own with gradients through them.
    "rollout": {
        "spatial": "routed",
        "token_history": 1,
        "block_order": "spatial_first",
        "train": {"rollout_loss_steps": 4},
    },
}
COLUMNS = ["step", "val_loss", "truth_mae", "connectome_auroc", "insilico_auroc", "insilico_r"]


@torch.no_grad()
def truth_mae(model, path, truth, windows: int = 64) -> float:
    """MAE against the truth of the forecast of each window's last frame, `windows` evenly spaced."""
    C = model.cfg.context
    data = Windows([open_probs(path, C + 1)], C)
    total, count = 0.0, 0
    for i in spaced_windows(data, windows):
        batch = collate([data[i]])
        inputs, _ = model_inputs(batch)
        forecast = torch.sigmoid(model(*inputs)[:, -1])
        true = torch.from_numpy(truth.prob[int(batch["start"][0]) + C])[None]
        total += float(abs_error(forecast, true, batch["mask"]).sum())
        count += int(batch["mask"].sum())
    return total / count


def evaluate(weights: Path, val: list[tuple], cfg: InsilicoConfig) -> dict:
    """One snapshot on every validation fish: (probs path, truth, replay) each."""
    model, state = load_weights(weights)
    model.eval()
    maes, conn, entries = [], [], []
    for path, truth, replay in val:
        maes.append(truth_mae(model, path, truth))
        G = truth.n_populations
        influence = attention_influence(model, path, truth.population, G) if model.cfg.spatial != "none" else None
        present = np.isin(np.arange(G), truth.population)
        off = ~np.eye(G, dtype=bool) & present[:, None] & present[None, :]
        if influence is not None:
            conn.append(auroc(influence[off], truth.wiring[off] != 0))
        entries += insilico_fish(path, model, {}, cfg, truth.population, truth.names, None, replay)[0]
    scores = summarise_scores(entries, ["sbm"])["sbm"]
    return {
        "truth_mae": float(np.mean(maes)),
        "connectome_auroc": float(np.mean(conn)) if conn else float("nan"),
        "insilico_auroc": scores["auroc"]["mean"],
        "insilico_r": scores["r"]["mean"],
    }


def memoised(replay):
    """The replay of a panel is the same for every snapshot: computed once."""
    cache = {}

    def replayed(frames, perturbations):
        key = (tuple(frames), tuple((p.name, p.kind, p.strength, p.start, p.duration) for p in perturbations))
        if key not in cache:
            cache[key] = replay(frames, perturbations)
        return cache[key]

    return replayed


def train_run(config: dict, rung: str, variant: str, steps: int, every: int, out: Path) -> Path:
    """Train the variant on the rung's training fish, its weights kept at every validation (about
    every `every` steps); returns the run folder."""
    probs = Path("results") / f"ladder_{rung}" / "probs"
    split = config["split"]
    model = dict(VARIANTS[variant])
    train_over = model.pop("train", {})
    model_cfg = SBMConfig.from_dict({**config["sbm"]["model"], **model})
    train_cfg = {**config["sbm"]["train"], **train_over, "max_steps": steps, "snapshots": True, "epochs": 100}
    train_paths = [str(probs / f"{s}.h5") for s in split["train"]]
    val_paths = [str(probs / f"{s}.h5") for s in split["val"]]
    # A validation every `every` steps: sbm.train counts validations per epoch.
    fish = [open_probs(p, 2) for p in train_paths]
    windows_per_epoch = sum(f.n_frames - model_cfg.context for f in fish) // train_cfg.get("stride", 1)
    train_cfg["val_per_epoch"] = max(1, windows_per_epoch // train_cfg["batch_size"] // every)
    run = out / f"{rung}-{variant}"
    train(model_cfg, TrainConfig.from_dict(train_cfg), train_paths, val_paths, run / "run", run / "weights.pt")
    return run / "run"


def curve(config: dict, rung: str, run_dir: Path, at: list[int], out: Path) -> Path:
    """Evaluate a run's snapshots nearest to the steps `at` (and its last) on the validation fish;
    writes <out>/curve.csv."""
    raw = Path(config["raw_dir"] or f"resources/{config['dataset']}/raw")
    probs = Path("results") / f"ladder_{rung}" / "probs"
    sim = SimConfig.from_dict(config["synthetic"])
    icfg = InsilicoConfig.from_dict(config["insilico"])
    val = []
    for s in config["split"]["val"]:
        path = probs / f"{s}.h5"
        truth = read_truth(path, raw / s / "ground_truth.h5")
        replay = simulator_replay(sim, raw / s / "ground_truth.h5", truth, icfg.horizon, icfg.replicas)
        val.append((path, truth, memoised(replay)))
    with open(run_dir / "metrics.csv") as f:
        losses = {int(r["step"]): float(r["val_loss"]) for r in csv.DictReader(f) if r["val_loss"]}
    chosen = sorted({min(losses, key=lambda s: abs(s - a)) for a in at} | {max(losses)})
    rows = []
    for step in chosen:
        row = {"step": step, "val_loss": losses[step], **evaluate(run_dir / f"weights-step{step:06d}.pt", val, icfg)}
        print(json.dumps({"curve": out.name, **row}), flush=True)
        rows.append(row)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "curve.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return out / "curve.csv"


def plot(curves: dict[str, list[dict]], path: Path) -> None:
    titles = {
        "val_loss": "validation loss (BCE)",
        "truth_mae": "next-step MAE against the truth",
        "connectome_auroc": "attention against the wiring (AUROC)",
        "insilico_auroc": "in-silico responders (AUROC)",
    }
    steps = []  # ticks at the steps measured, thinned so that labels do not overlap
    for step in sorted({int(r["step"]) for rows in curves.values() for r in rows}):
        if not steps or step >= 1.6 * steps[-1]:
            steps.append(step)
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for ax, (key, title) in zip(axes, titles.items()):
        for name, rows in curves.items():
            ax.plot([r["step"] for r in rows], [r[key] for r in rows], marker="o", label=name)
        ax.set_xscale("log")
        # Plain numbers: log-scale minor labels overlap.
        ax.set_xticks(steps, [str(s) for s in steps])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("training steps (4 windows each)")
        ax.set_title(title, fontsize=10)
        if "auroc" in key:
            ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    axes[0].legend(fontsize=8)
    fig.suptitle("The SBM's learning curves on the ladder's validation fish", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "config/ladder.yaml")
    parser.add_argument("--rungs", nargs="+", default=["clean", "inferred"])
    parser.add_argument("--variants", nargs="+", default=["paper", "dense"], choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--every", type=int, default=25, help="steps between validations")
    parser.add_argument("--at", type=int, nargs="+", default=[25, 50, 100, 200, 400, 600, 800])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out/learning_curves")
    parser.add_argument("--plot-only", action="store_true")
    parser.add_argument(
        "--from-ladder",
        action="store_true",
        help="evaluate the snapshots of the ladder's own SBM runs instead of training",
    )
    args = parser.parse_args()
    config = read_config(args.config)
    if not args.plot_only:
        for rung in args.rungs:
            if args.from_ladder:  # the ladder's own SBM, trained with snapshots (config/ladder.yaml)
                (run_dir,) = Path("results", f"ladder_{rung}", "sbm").glob("run-*")
                curve(config, rung, run_dir, args.at, args.out / f"{rung}-ladder")
                continue
            for variant in args.variants:
                run_dir = train_run(config, rung, variant, args.steps, args.every, args.out)
                curve(config, rung, run_dir, args.at, args.out / f"{rung}-{variant}")
    curves = {}
    for path in sorted(args.out.glob("*/curve.csv")):
        with open(path) as f:
            curves[path.parent.name] = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    if not curves:
        sys.exit(f"no curves under {args.out}")
    print("| curve | step | val loss | truth MAE | connectome AUROC | in-silico AUROC | in-silico r |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in curves.items():
        for r in rows:
            cells = [f"{r[k]:.4f}" for k in ("val_loss", "truth_mae")]
            cells += [f"{r[k]:.2f}" for k in ("connectome_auroc", "insilico_auroc", "insilico_r")]
            print(f"| {name} | {int(r['step'])} | " + " | ".join(cells) + " |")
    plot(curves, args.out / "learning_curves.png")
    print(f"\nfigure: {args.out / 'learning_curves.png'}")


if __name__ == "__main__":
    main()
