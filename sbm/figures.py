"""The paper's figures 1B, 1C, 2A-D and 3A-C, the rollouts and the connectome panel, drawn from
results/<dataset>/eval/.

Every function takes what the evaluation stored (parsed JSON, HDF5 contents, CSV rows) and a path;
none computes a metric, so every number on a figure is one in eval/.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# One colour per forecaster, the same on every figure. "observed": what the recording gives (the
# spike probabilities inferred from its DF/F, its behaviour); "truth": the simulator's own values,
# on simulated fish only. They never share a colour.
COLOURS = {
    "observed": "0.35",
    "truth": "goldenrod",
    "sbm": "tab:red",
    "persistence": "tab:purple",
    "context_mean": "tab:olive",
    "neuron_mean": "tab:brown",
    "ridge": "tab:blue",
    "mlp": "tab:green",
    "ridge_neighbours": "tab:cyan",
    "ridge_pca": "tab:pink",
    "poco": "tab:orange",
    "sbm_no_spatial": "darkred",
    "ceiling": "black",
    "ceiling_inferred_targets": "0.55",
    "attention": "tab:red",
    "lag1_correlation": "tab:blue",
    # figure 3: behaviour readouts and pattern sets
    "pnm": "tab:red",
    "pca_ridge": "tab:cyan",
    "real": "tab:blue",
    "random": "tab:olive",
    "optimised": "tab:red",
    "target": "black",
    "pnm_sbm_states": "tab:orange",
    "lag1": "tab:blue",
}
LABELS = {
    "sbm": "SBM",
    "persistence": "persistence",
    "context_mean": "context mean",
    "neuron_mean": "neuron mean",
    "ridge": "ridge AR",
    "mlp": "MLP",
    "ridge_neighbours": "ridge + neighbours",
    "ridge_pca": "ridge + PCA",
    "poco": "POCO",
    "sbm_no_spatial": "SBM, no spatial attention",
    "ceiling": "ceiling (simulator's populations, fitted to its truth)",
    "ceiling_inferred_targets": "simulator's populations, fitted to observed probabilities",
    "observed": "observed",
    "truth": "simulator truth",
    "pnm": "PNM",
    "pca_ridge": "PCA + ridge",
    "real": "real states",
    "random": "random patterns",
    "optimised": "optimised patterns",
    "target": "targets",
    "pnm_sbm_states": "PNM on SBM forecasts",
}
# The behaviour readouts: their ridge reads spatial Fourier moments, it is not autoregressive.
BEHAVIOR_LABELS = {"pnm": "PNM", "ridge": "ridge", "pca_ridge": "PCA + ridge"}


def save(fig, path) -> None:
    fig.savefig(path, format="png", dpi=130, bbox_inches="tight")  # the format: `path` may be a temporary name
    plt.close(fig)


def voxelise(xyz: np.ndarray, values: np.ndarray, shape=(512, 256)) -> np.ndarray:
    """Mean of `values` (N,) over the neurons in each cell of a shape[0] x shape[1] grid over the
    x-y extent of `xyz` (N, 3), pooled over z; NaN where a cell has no neuron. Rows are y, columns x."""
    lo, hi = xyz[:, :2].min(axis=0), xyz[:, :2].max(axis=0)
    scaled = (xyz[:, :2] - lo) / np.maximum(hi - lo, 1e-12)
    col = np.minimum((scaled[:, 0] * shape[0]).astype(int), shape[0] - 1)
    row = np.minimum((scaled[:, 1] * shape[1]).astype(int), shape[1] - 1)
    total, count = np.zeros(shape[::-1]), np.zeros(shape[::-1])
    np.add.at(total, (row, col), values)
    np.add.at(count, (row, col), 1)
    with np.errstate(invalid="ignore"):
        return total / np.where(count > 0, count, np.nan)


def fig1b_brain_maps(example: dict, path, horizons=(1, 8, 32)) -> plt.Figure:
    """The observed frames, the SBM's autoregressive rollout and their difference (rollout -
    observed) at a few horizons: one dot per neuron at its x-y position (z pooled), large enough
    to see. Observed and rollout share one colour scale, the 1st-99th percentile of the values
    drawn; the difference is on a diverging scale centred at 0. Returns the (closed) figure."""
    horizons = [h for h in horizons if h <= len(example["sbm"])]
    C, fps, xy = int(example["context"]), float(example["fps"]), example["xyz"][:, :2]
    observed = np.stack([example["observed"][C + h - 1] for h in horizons]).astype(float)
    rollout = np.stack([example["sbm"][h - 1] for h in horizons]).astype(float)
    difference = rollout - observed
    lo, hi = np.percentile(np.concatenate((observed, rollout)), [1, 99])
    hi = max(hi, lo + 1e-6)
    limit = float(np.percentile(np.abs(difference), 99)) or 1e-6
    size = float(np.clip(12000 / len(xy), 1, 20))  # ~500-2,000 neurons: distinct dots
    rows = (
        ("observed", observed, "viridis", lo, hi),
        ("SBM rollout", rollout, "viridis", lo, hi),
        ("rollout - observed", difference, "RdBu_r", -limit, limit),
    )
    fig, axes = plt.subplots(3, len(horizons), figsize=(4.4 * len(horizons), 7.2), squeeze=False, layout="constrained")
    for i, (name, values, cmap, vmin, vmax) in enumerate(rows):
        for j, h in enumerate(horizons):
            ax = axes[i, j]
            dots = ax.scatter(*xy.T, c=values[j], s=size, cmap=cmap, vmin=vmin, vmax=vmax, linewidths=0)
            ax.set_aspect("equal"), ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(f"+{h} frames ({h / fps:.1f} s)", fontsize=13)
            if j == 0:
                ax.set_ylabel(name, fontsize=13)
        if i == 1:  # observed and rollout share this scale
            bar = fig.colorbar(dots, ax=axes[:2], shrink=0.8, extend="both")
            bar.set_label("spike probability (1st-99th percentile of both rows)")
        if i == 2:
            fig.colorbar(dots, ax=axes[2], shrink=0.8, extend="both").set_label("rollout - observed")
    fig.suptitle(
        f"Held-out fish, rollout from frame {int(example['first_frame']) + C}: one dot per neuron "
        "(x: rostro-caudal, z pooled)",
        fontsize=14,
    )
    save(fig, path)
    return fig


def fig1c_traces(example: dict, path, n_neurons: int = 6) -> None:
    """Example neurons (the most variable over the window): observed against the SBM's rollout."""
    observed, pred, C, fps = example["observed"], example["sbm"], int(example["context"]), float(example["fps"])
    chosen = np.argsort(observed.std(axis=0))[::-1][:n_neurons]
    t = (np.arange(len(observed)) - C) / fps
    fig, axes = plt.subplots(n_neurons, 1, figsize=(7, 1.1 * n_neurons), sharex=True)
    for ax, n in zip(axes, chosen):
        ax.plot(t, observed[:, n], color=COLOURS["observed"], lw=1.2, label="observed")
        ax.plot(t[C:], pred[:, n], color=COLOURS["sbm"], lw=1.2, label="SBM rollout")
        ax.axvspan(t[0], 0, color="0.92", lw=0)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel(f"#{n}", rotation=0, ha="right", va="center", fontsize=8)
    axes[0].legend(loc="upper right", fontsize=8, ncol=2, frameon=False)
    axes[0].set_title(
        "Spike probability of example neurons; shaded: the observed context the rollout starts from", fontsize=9
    )
    axes[-1].set_xlabel("time from the first forecast frame (s)")
    save(fig, path)


def fig2a_calibration(next_step: dict, path) -> None:
    """Reliability diagram with ECE per forecaster, and predicted against observed mean activity."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    left.plot([0, 1], [0, 1], color="0.7", ls="--", lw=1)
    for name, c in next_step["calibration"].items():
        pred, obs = np.array(c["mean_predicted"], float), np.array(c["mean_observed"], float)
        left.plot(pred, obs, "o-", color=COLOURS[name], ms=4, label=f"{LABELS[name]} (ECE {c['ece']:.4f})")
    left.set(
        xlabel="predicted spike probability (bin mean)",
        ylabel="observed spike probability (bin mean)",
        title="Reliability, next step",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    left.legend(fontsize=10, frameon=False)
    for subject, a in next_step["mean_activity"].items():
        observed, sbm = np.array(a["observed"]), np.array(a["sbm"])
        r = np.corrcoef(observed, sbm)[0, 1]
        right.scatter(observed, sbm, s=8, alpha=0.6, color=COLOURS["sbm"], label=f"{subject}: r = {r:.3f}")
    lo = min(min(a["observed"] + a["sbm"]) for a in next_step["mean_activity"].values())
    hi = max(max(a["observed"] + a["sbm"]) for a in next_step["mean_activity"].values())
    right.plot([lo, hi], [lo, hi], color="0.7", ls="--", lw=1)
    right.set(
        xlabel="observed mean activity (mean spike probability over neurons)",
        ylabel="SBM forecast mean activity",
        title="Mean activity per forecast frame",
    )
    right.legend(fontsize=10, frameon=False)
    save(fig, path)


def fig2b_context(next_step: dict, path) -> None:
    """Next-step MAE against the number of frames the forecaster sees."""
    by = next_step["mae_by_context"]
    frames = np.array(by["frames_seen"])
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name in ("sbm", "context_mean", "persistence"):
        ax.plot(frames, by[name], "o-", ms=4, color=COLOURS[name], label=LABELS[name])
    ax.set(
        xlabel="history seen (frames)",
        ylabel="next-step MAE (spike probability)",
        title="Held-out MAE against context length",
    )
    ax.set_xticks(frames)
    ax.legend(frameon=False)
    save(fig, path)


def fig_rollouts(rollout: dict, path) -> None:
    """MAE against horizon (log-log, with each growth exponent), on simulated fish also against the
    simulator's truth, and mean activity over the horizon; one legend (the colours are shared)."""
    h = np.array(rollout["horizon"])
    truth = rollout["truth"]
    fig, axes = plt.subplots(1, 3 if truth else 2, figsize=(16 if truth else 11, 4.2), layout="constrained")
    left, right = axes[0], axes[-1]
    for name, mae in rollout["mae"].items():
        label = f"{LABELS[name]} (b = {rollout['growth_exponent'][name]:.2f})"
        left.loglog(h, mae, "o-", ms=3, color=COLOURS[name], label=label)
    left.set(xlabel="horizon (frames)", ylabel="MAE (spike probability)", title="Rollout error, MAE ~ a h^b")
    if truth:
        for name, mae in truth["mae"].items():
            axes[1].loglog(h, mae, "o-", ms=3, color=COLOURS[name])
        axes[1].set(
            xlabel="horizon (frames)",
            ylabel="MAE against the simulator truth",
            title="Against the simulator truth",
        )
    for name, activity in rollout["mean_activity"].items():
        observed = name == "observed"
        right.plot(h, activity, "-", lw=2.4 if observed else 1.3, color=COLOURS[name])
    right.plot([], [], "-", lw=2.4, color=COLOURS["observed"], label=LABELS["observed"])
    right.set(
        xlabel="horizon (frames)",
        ylabel="mean activity (spike probability)",
        title=f"Mean activity over {rollout['starts']} rollouts",
    )
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    fig.legend(handles=handles, loc="outside right center", fontsize=8, frameon=False)
    save(fig, path)


def fig_adapt(adapt: dict, path) -> None:
    """Next-step and rollout MAE against the minutes of the new fish tuned on (0: zero-shot): the
    SBM fine-tuned, the per-neuron forecasters refitted on the same minutes, persistence."""
    k = adapt["minutes"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for ax, key, title in zip(axes, ("next_step_mae", "rollout_mae"), ("Next step", "Rollout, mean over the horizon")):
        for name in ("sbm", "ridge", "mlp", "persistence"):
            if name in adapt[key]:
                ax.plot(k, adapt[key][name], "o-", color=COLOURS[name], label=LABELS[name])
        ax.set(xlabel="minutes of the new fish tuned on (0: zero-shot)", ylabel="MAE (spike probability)", title=title)
    axes[0].legend(fontsize=8, frameon=False)
    fig.suptitle(f"Held-out fish {', '.join(adapt['heldout'])}, scored after the longest tuning stretch", fontsize=10)
    save(fig, path)


def fig_insilico(insilico: dict, responses: dict, path, shown: int = 3) -> None:
    """In-silico optogenetics on the first held-out fish: for the excitations with the largest
    response in the simulator truth (else predicted), the response maps over the perturbed frames,
    simulator truth and SBM, and per group the truth's, SBM and lag-1 responses (each scaled to
    its largest)."""
    subject, start, duration = (
        insilico["experiments"][0]["subject"],
        int(responses["start"]),
        int(responses["duration"]),
    )
    window = slice(start, start + duration)
    experiments = [e for e in insilico["experiments"] if e["subject"] == subject]
    key = "truth" if "truth" in experiments[0]["maps"] else "sbm"
    size = lambda e: np.nansum(np.abs(np.array(e["maps"][key], float)))  # noqa: E731
    chosen = sorted((e for e in experiments if e["kind"] == "excite"), key=size, reverse=True)[:shown] or experiments
    names = [str(n) for n in responses["experiments"]]
    maps = [("truth", "response_truth"), ("sbm", "response_sbm")] if key == "truth" else [("sbm", "response_sbm")]
    fig, axes = plt.subplots(
        len(chosen),
        len(maps) + 1,
        figsize=(4.2 * (len(maps) + 1), 3.2 * len(chosen)),
        squeeze=False,
        layout="constrained",
    )
    xy = responses["xyz"][:, :2]
    for row, e in enumerate(chosen):
        i = names.index(f"{e['target']}:{e['kind']}")
        values = {name: responses[field][i, window].astype(float).mean(axis=0) for name, field in maps}
        targets = responses["group"] == int(list(responses["group_names"]).index(e["target"]))
        for col, (name, _) in enumerate(maps):
            ax = axes[row, col]
            # each map on its own symmetric scale, set outside the targets (theirs saturates): the
            # SBM's responses are a fraction of the truth's, and on a shared scale would not show
            limit = np.abs(values[name][~targets]).max() or 1.0
            ax.scatter(*xy[~targets].T, c=values[name][~targets], s=4, cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.scatter(*xy[targets].T, s=6, facecolors="none", edgecolors="black", linewidths=0.4)
            ax.set_aspect("equal"), ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"{e['target']} excited: {LABELS.get(name, name)} (scale ±{limit:.3f})", fontsize=10)
        ax = axes[row, -1]
        bars = [m for m in ("truth", "sbm", "lag1") if m in e["maps"]]
        for b, m in enumerate(bars):
            v = np.array(e["maps"][m], float)
            scale = np.nanmax(np.abs(v)) or 1.0
            # a group whose every neuron was a target has no response (NaN): no bar, not a bar of 0
            ax.bar(
                np.arange(len(v)) + (b - 1) * 0.27, v / scale, 0.27, color=COLOURS.get(m, "0.6"), label=LABELS.get(m, m)
            )
        r = e.get("scores", {}).get("sbm", {}).get("r")
        ax.set(
            xlabel="group",
            ylabel="response / its largest",
            title=f"per group (SBM r {r:.2f})" if r is not None else "per group",
        )
        ax.legend(fontsize=7, frameon=False)
    scores = insilico.get("scores") or {}
    parts = [
        f"{LABELS.get(m, m)}: r {s['r']['mean']:.2f}, AUROC {s['auroc']['mean']:.2f}"
        for m, s in scores.items()
        if s["r"]["mean"] is not None and s["auroc"]["mean"] is not None
    ]
    summary = "\n".join("; ".join(parts[i : i + 4]) for i in range(0, len(parts), 4))
    fig.suptitle(f"Held-out fish {subject}: perturbed frames {start}-{start + duration - 1}\n{summary}", fontsize=10)
    save(fig, path)


def fig2d_fidelity(embedding: list[dict], fidelity: dict, path, shown=("sbm", "ridge", "mlp", "persistence")) -> None:
    """Observed held-out states (grey) and each forecaster's, in the PCA and UMAP fitted on the
    observed states of the other frames."""
    subject = embedding[0]["subject"]
    rows = [r for r in embedding if r["subject"] == subject]
    shown = [s for s in shown if any(r["source"] == s for r in rows)]
    fig, axes = plt.subplots(2, len(shown), figsize=(3.2 * len(shown), 6.8), squeeze=False, layout="constrained")
    metrics = fidelity["per_subject"][subject]["metrics"]
    for i, method in enumerate(("pca", "umap")):
        points = {
            src: np.array(
                [(float(r["x"]), float(r["y"])) for r in rows if r["method"] == method and r["source"] == src]
            )
            for src in ["observed", *shown]
        }
        for j, name in enumerate(shown):
            ax = axes[i, j]
            ax.scatter(*points["observed"].T, s=5, color="0.75", label=LABELS["observed"])
            ax.scatter(*points[name].T, s=5, color=COLOURS[name], alpha=0.7, label=LABELS[name])
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                m = metrics[name]
                ax.set_title(
                    f"{LABELS[name]}\nenergy {m['energy_distance']:.3f}, classifier {m['classifier_accuracy']:.2f}",
                    fontsize=12,
                )
            ax.set_xlabel("PC 1" if method == "pca" else "UMAP 1", fontsize=12)
            if j == 0:
                ax.set_ylabel("PC 2" if method == "pca" else "UMAP 2", fontsize=12)
    axes[0, 0].legend(fontsize=11, frameon=False, loc="best")
    fig.suptitle(
        f"Next-step brain states of held-out {subject}: observed against forecasts (classifier chance = 0.5)\n"
        "PCA and UMAP fitted on the other frames' observed states",
        fontsize=14,
    )
    save(fig, path)


def fig_connectome(connectome: dict, path) -> None:
    """The simulator's population wiring beside the SBM's attention and lag-1 correlations."""
    subject, s = next(iter(connectome["per_subject"].items()))
    panels = [
        ("simulator wiring |weight|", np.abs(np.array(s["true_connectivity"])), None),
        ("SBM attention", np.array(s["attention"]), s["auroc"]["attention"]),
        ("|lag-1 correlation|", np.array(s["lag1_correlation"]), s["auroc"]["lag1_correlation"]),
    ]
    # One matrix above the other: each as wide as the report's pane, so the population names read.
    fig, axes = plt.subplots(3, 1, figsize=(7, 20), layout="constrained")
    names = s["populations"]
    for ax, (title, matrix, score) in zip(axes, panels):
        shown = matrix.copy()
        np.fill_diagonal(shown, np.nan)  # the diagonal is not scored
        image = ax.imshow(shown, cmap="viridis")
        ax.set_title(title + (f": AUROC {score:.2f}" if score is not None else ""), fontsize=11)
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.set_xlabel("source population"), ax.set_ylabel("target population")
        fig.colorbar(image, ax=ax, shrink=0.6)
    fig.suptitle(
        f"Held-out {subject}: {s['wired_pairs']} of {s['pairs']} off-diagonal pairs are wired; "
        f"\nchance AUROC 0.5 (95 % of random scores: {s['chance']['q2.5']:.2f}-{s['chance']['q97.5']:.2f})",
        fontsize=11,
    )
    save(fig, path)


def fig3a_behavior(behavior: dict, series: dict, path, frames: int = 300) -> None:
    """Left: each observed behaviour against the PNM reading observed and SBM-forecast states over the
    first `frames` evaluated frames. Right: r per behaviour for every readout, chance shaded; the
    legend in a column of its own, so it covers nothing."""
    names = behavior["behaviors"]
    fig = plt.figure(figsize=(13, 1.9 * len(names) + 1.4), layout="constrained")
    grid = fig.add_gridspec(len(names), 3, width_ratios=(2.2, 1.1, 0.75))
    t = series["frame"][:frames]
    for d, name in enumerate(names):
        ax = fig.add_subplot(grid[d, 0])
        # The observed behaviour as a grey area and the two readouts as lines of different styles,
        # the PNM on observed states drawn last: where they agree, both stay visible.
        ax.fill_between(t, series["observed"][:frames, d], color="0.8", lw=0, label="observed behaviour")
        ax.plot(
            t,
            series["pnm_sbm_states"][:frames, d],
            color=COLOURS["pnm_sbm_states"],
            lw=1.4,
            ls="--",
            label="PNM, SBM forecasts",
        )
        ax.plot(
            t, series["pnm_observed_states"][:frames, d], color=COLOURS["pnm"], lw=1.2, label="PNM, observed states"
        )
        r = behavior["r"]
        ax.text(
            0.99,
            0.95,
            f"r = {r['pnm_observed_states'][name]:.2f} (observed states), "
            f"{r['pnm_sbm_states'][name]:.2f} (SBM forecasts)",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=11,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8},
        )
        ax.set_ylabel(name.replace("_", " "), fontsize=12)
        ax.tick_params(labelsize=11)
        if d == len(names) - 1:
            ax.set_xlabel("frame", fontsize=12)
        else:
            ax.tick_params(labelbottom=False)
    fig.suptitle("Held-out behaviour (scaled to [0, 1] per fish) and the PNM's readings", fontsize=14)
    bars = fig.add_subplot(grid[:, 1])
    readouts = [(m, s) for m in ("pnm", "ridge", "pca_ridge") for s in ("observed_states", "sbm_states")]
    y = np.arange(len(names))
    height = 0.8 / len(readouts)
    for i, (model, source) in enumerate(readouts):
        key = f"{model}_{source}"
        values = [behavior["r"][key][n] for n in names]
        states = "observed states" if source == "observed_states" else "SBM forecasts"
        label = f"{BEHAVIOR_LABELS[model]}, {states} (mean {behavior['mean_r'][key]:.2f})"
        bars.barh(
            y + i * height,
            values,
            height,
            color=COLOURS[model],
            alpha=1.0 if source == "observed_states" else 0.45,
            label=label,
        )
    for j, n in enumerate(names):
        bars.fill_betweenx(
            [j - 0.1, j + 0.9],
            0,
            behavior["chance_r95"][n],
            color="0.85",
            lw=0,
            label="chance (95 % of shifted |r|)" if j == 0 else None,
        )
    bars.set_yticks(y + 0.4 - height / 2, [n.replace("_", " ") for n in names], fontsize=12)
    bars.tick_params(axis="x", labelsize=11)
    bars.invert_yaxis()
    bars.set_xlabel("Pearson r on the held-out fish", fontsize=12)
    bars.set_title("Behaviour prediction", fontsize=13)
    key = fig.add_subplot(grid[:, 2])  # both legends in a column of their own: they cover nothing
    key.axis("off")
    lines = key.legend(*ax.get_legend_handles_labels(), title="traces", fontsize=11, frameon=False, loc="upper left")
    key.add_artist(lines)
    key.legend(*bars.get_legend_handles_labels(), title="bars", fontsize=11, frameon=False, loc="center left")
    save(fig, path)


def fig3b_behavior_space(rows: list[dict], search: dict, path) -> None:
    """The behaviour PCA plane (fitted on the training fish): observed behaviour, the PNM on SBM
    forecasts, and what real, random and optimised patterns drive; the grid that coverage counts."""
    subject = rows[0]["subject"]
    points = {}
    for r in rows:
        if r["subject"] == subject:
            points.setdefault(r["set"], []).append((float(r["pc1"]), float(r["pc2"])))
    points = {k: np.array(v) for k, v in points.items()}
    space, result = search["space"], search["per_subject"][subject]
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    for x in np.linspace(space["lo"][0], space["hi"][0], space["grid"] + 1):
        ax.axvline(x, color="0.9", lw=0.8, zorder=0)
    for y in np.linspace(space["lo"][1], space["hi"][1], space["grid"] + 1):
        ax.axhline(y, color="0.9", lw=0.8, zorder=0)
    ax.scatter(*points["observed_every_frame"].T, s=4, color="0.8", label="observed behaviour, every frame")
    ax.scatter(
        *points["pnm_sbm_states"].T, s=4, color=COLOURS["pnm_sbm_states"], alpha=0.5, label=LABELS["pnm_sbm_states"]
    )
    ax.scatter(*points["target"].T, s=30, marker="x", color=COLOURS["target"], lw=0.8, label=LABELS["target"])
    for name in ("observed", "real", "random", "optimised"):
        label = "observed behaviour" if name == "observed" else LABELS[name]
        ax.scatter(
            *points[name].T,
            s=16,
            color=COLOURS[name],
            edgecolor="white",
            lw=0.3,
            label=f"{label}: {result['coverage'][name]:.0%} of cells, hull {result['hull_area'][name]:.3f}",
        )
    explained = space["explained_variance_ratio"]
    ax.set(
        xlabel=f"behaviour PC 1 ({explained[0]:.0%} of variance)",
        ylabel=f"behaviour PC 2 ({explained[1]:.0%})",
        title=f"Behaviour space, held-out {subject} ({len(points['target'])} patterns per set)",
    )
    ax.legend(fontsize=9, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1))
    save(fig, path)


def fig3c_pattern(pattern: dict, search: dict, path) -> None:
    """One optimised pattern on the brain (mean over its frames), beside the real state it
    started from and their difference, voxelised in x-y and pooled over z."""
    xyz, start, optimised = pattern["xyz_um"], pattern["start"].mean(axis=0), pattern["pattern"].mean(axis=0)
    cmap = plt.get_cmap("magma").with_extremes(bad="0.92")
    diff_cmap = plt.get_cmap("RdBu_r").with_extremes(bad="0.92")
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
    shape = (128, 64)
    for ax, (title, values) in zip(axes[:2], (("real state it started from", start), ("optimised pattern", optimised))):
        image = ax.imshow(voxelise(xyz, values, shape), origin="lower", cmap=cmap, vmin=0, vmax=1, interpolation="none")
        ax.set_title(title, fontsize=11)
    fig.colorbar(image, ax=axes[:2], shrink=0.8).set_label(
        "spike probability\n(mean over frames and voxel)", fontsize=10
    )
    change = voxelise(xyz, optimised - start, shape)
    limit = float(np.nanmax(np.abs(change))) or 1.0
    image = axes[2].imshow(change, origin="lower", cmap=diff_cmap, vmin=-limit, vmax=limit, interpolation="none")
    axes[2].set_title("optimised - real", fontsize=11)
    fig.colorbar(image, ax=axes[2], shrink=0.8).set_label("change in spike probability", fontsize=10)
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
    names = search["behaviors"]
    reached = ", ".join(f"{n.replace('_', ' ')} {v:.2f}" for n, v in zip(names, pattern["behavior"]))
    fig.suptitle(
        f"Pattern {int(pattern['index'])} (from frame {int(pattern['frame'])}): behaviour plane "
        f"({pattern['started'][0]:.2f}, {pattern['started'][1]:.2f}) -> ({pattern['reached'][0]:.2f}, "
        f"{pattern['reached'][1]:.2f}), "
        f"target ({pattern['target'][0]:.2f}, {pattern['target'][1]:.2f})\nPNM behaviour: {reached}",
        fontsize=11,
    )
    save(fig, path)


def fig_spike_probabilities(summaries: list[dict], path) -> None:
    """Per fish, the histogram of its spike probabilities (every neuron and frame, log counts) on
    the same axis as the fraction of frames it says hold a spike (the mean p), the p its neurons
    get from noise alone, and on simulated fish the simulator truth's fraction
    (sbm.spikes.qc.probability_summary)."""
    cols = min(3, len(summaries))
    rows = -(-len(summaries) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False, layout="constrained")
    for ax, s in zip(axes.flat, summaries):
        counts = np.array(s["histogram"], float)
        edges = np.linspace(0, 1, len(counts) + 1)
        ax.stairs(
            counts / counts.sum(),
            edges,
            fill=True,
            color="0.75",
            label=f"p ({100 * s['fraction_zero']:.0f} % exactly 0)",
        )
        ax.set_yscale("log")
        ax.axvline(
            s["expected_fraction_with_spike"],
            color="tab:red",
            lw=1.6,
            label=f"mean p: {s['expected_fraction_with_spike']:.3f}",
        )
        if "true_fraction_with_spike" in s:
            ax.axvline(
                s["true_fraction_with_spike"],
                color=COLOURS["truth"],
                ls="--",
                lw=1.4,
                label=f"simulator truth: {s['true_fraction_with_spike']:.3f}",
            )
        if "silent_p" in s:
            q = s["silent_p"]
            ax.axvspan(q["p05"], q["p95"], color="tab:blue", alpha=0.25, lw=0, label=f"noise alone: {q['median']:.3f}")
        floor = s.get("floor")
        ax.set(
            xlabel="P(spike in frame)",
            ylabel="fraction of neuron-frames",
            xlim=(0, 1),
            title=f"{s['subject']} ({s['method']}, floor {floor:.2f})" if floor is not None else s["subject"],
        )
        ax.legend(fontsize=7, frameon=False)
    for ax in axes.flat[len(summaries) :]:
        ax.axis("off")
    save(fig, path)


def next_step_table(next_step: dict) -> list[list]:
    """Rows of the next-step table: forecaster, MAE, SBM / it, ECE and, on simulated fish, the MAE
    against the simulator's truth (per neuron and of the population means) and where it sits
    between the per-neuron ridge (0) and the ceilings (1; sbm.eval.truth.summarise_truth)."""
    truth = next_step["truth"]
    rows = [["forecaster", "next-step MAE (observed)", "SBM MAE / forecaster MAE", "ECE"]]
    if truth:
        rows[0] += [
            "MAE vs simulator truth",
            "population MAE vs simulator truth",
            "ridge (0) to ceiling (1)",
            "ridge (0) to reachable ceiling (1)",
        ]
    number = lambda value, digits: "" if value is None else f"{value:.{digits}f}"  # noqa: E731
    for name, mae in next_step["mae"].items():
        row = [LABELS[name], f"{mae:.4f}"]
        row += [number(next_step["sbm_over_baseline"].get(name), 3), number(next_step["ece"].get(name), 4)]
        if truth:
            row += [number(truth["mae"][name], 4), number(truth["mae_population"][name], 4)]
            row += [number((truth.get(key) or {}).get(name), 2) for key in ("floor_to_ceiling", "floor_to_reachable")]
        rows.append(row)
    return rows


def html_table(rows: list[list], caption: str) -> str:
    """A small standalone HTML page of a table (the report shows HTML files inline)."""
    cells = lambda row, tag: "".join(f"<{tag}>{c}</{tag}>" for c in row)  # noqa: E731
    body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows[1:])
    style = (
        "body{font-family:sans-serif}td,th{padding:4px 12px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{style}</style></head><body><table>"
        f"<caption>{caption}</caption><thead><tr>{cells(rows[0], 'th')}</tr></thead>"
        f"<tbody>{body}</tbody></table></body></html>\n"
    )
