# Helpers shared by the rules: config validation, paths, threads, the code each rule runs.

import hashlib
import json
import os
import re
import shlex
import sys
import warnings

import h5py
import yaml

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# Jobs import the sbm package of this checkout (also inside per-rule conda environments and on
# cluster nodes, which re-read this file), whether or not it was pip-installed.
REPO = os.path.abspath(os.path.join(workflow.basedir, ".."))
sys.path.insert(0, REPO)
from sbm.allocator import find_allocator
from sbm.data.split import SplitConfig, make_split
from sbm.io.errors import InputError
from sbm.io.table import table_kind
from sbm.workflow import (
    code_record,
    command_line,
    config_setting,
    config_problems,
    plain,
    python_sources,
    settings_record,
    spike_model_dir,
    spike_model_settings,
)


# --- the config -----------------------------------------------------------------------------
def config_layers():
    """The config files in the order Snakemake merged them, then --config: where each key came from."""
    files = [str(f) for f in workflow.overwrite_configfiles] or [DEFAULT_CONFIG]
    layers = []
    for name in files:
        with open(name) as f:
            short = os.path.relpath(name)
            layers.append((name if short.startswith("..") else short, yaml.safe_load(f) or {}))
    return layers + [("--config", dict(workflow.config_settings.config))]


# One line per problem, naming the key and the file that set it; then Snakemake's own validation,
# which fills in the schema's defaults (the paper's settings).
SCHEMA = "../schemas/config.schema.yaml"
with open(os.path.join(workflow.basedir, "schemas", "config.schema.yaml")) as f:
    problems = config_problems(config, yaml.safe_load(f), config_layers())
if problems:
    raise WorkflowError("the config is not valid:\n  " + "\n  ".join(problems))
validate(config, schema=SCHEMA)

# Jobs run with tcmalloc where it is installed (sbm/allocator.py: PyTorch on CPUs is faster);
# checked again on the node that runs the job, which may be another machine.
ALLOCATOR = find_allocator(config["cpu_allocator"])
shell.prefix(
    f'export PYTHONPATH="{REPO}${{{{PYTHONPATH:+:$PYTHONPATH}}}}"; '
    + (
        f'if [ -e "{ALLOCATOR}" ]; then export LD_PRELOAD="{ALLOCATOR}${{{{LD_PRELOAD:+:$LD_PRELOAD}}}}"; fi; '
        if ALLOCATOR
        else ""
    )
)
ENV = "../../environment.yml"


# Threads of a job that can use a whole machine (training, evaluation). Snakemake lowers a job's
# threads to --cores and to --max-threads: a local run gives such a job every core, and
# profiles/slurm sets max-threads, the CPUs of one such job on the cluster (SLURM is asked for as
# many CPUs as a job has threads).
ALL_CORES = 1024

DATASET = config["dataset"]
SUBJECTS = config["subjects"]
# Raw data in the Chen et al. 2018 layout: simulated or downloaded here, unless the user
# already has it (raw_dir), in which case nothing is downloaded. Sources table and nwb: the
# user's folder of one file per fish.
RECORDING_SOURCES = ("table", "nwb")
RAW = config["raw_dir"] or f"resources/{DATASET}/raw"
RESULTS = f"results/{DATASET}"
LOGS = f"logs/{DATASET}"
if config["source"] in RECORDING_SOURCES and config["raw_dir"] is None:
    raise WorkflowError(f"source {config['source']} reads the fish's files from raw_dir: set raw_dir to their folder")
if "truth" in config["probabilities"].values() and config["source"] != "synthetic":
    raise WorkflowError(f"config probabilities {config['probabilities']}: only simulated fish have a truth")
numbered = [s for s in SUBJECTS if not re.fullmatch(r"subject_\d+", s)]
if numbered and (config["source"] == "synthetic" or (config["source"] == "chen2018" and config["raw_dir"] is None)):
    raise WorkflowError(f"source {config['source']} names its fish subject_<n>, not {numbered}")


wildcard_constraints:
    subject=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    fps=r"\d+\.\d\d",


def find_recordings():
    """Sources table and nwb: each fish's file in raw_dir, <subject> plus a suffix of the source;
    every fish without exactly one file is named in one error."""
    suffixes = (".nwb",) if config["source"] == "nwb" else (".h5", ".hdf5", ".npz")
    found = {s: [f"{RAW}/{s}{suffix}" for suffix in suffixes if os.path.isfile(f"{RAW}/{s}{suffix}")] for s in SUBJECTS}
    missing = [s for s, files in found.items() if not files]
    several = {s: files for s, files in found.items() if len(files) > 1}
    if missing or several:
        raise WorkflowError(
            f"raw_dir {RAW}: "
            + "; ".join(
                ([f"no file {'/'.join(suffixes)} for {missing}"] if missing else [])
                + [f"{s} has several files {files}" for s, files in several.items()]
            )
        )
    return {s: files[0] for s, files in found.items()}


def entry_stage():
    """Where the dataset's fish enter the pipeline: dff (raw data, fluorescence or DF/F) or probs
    (table files of kind activity, already in [0, 1]). One entry per dataset: fish whose kinds
    enter at different stages are named in the error."""
    if config["source"] != "table":
        return "dff"
    kinds, problems = {}, []
    for s, path in RECORDINGS.items():
        try:
            kinds[s] = table_kind(path)
        except InputError as err:
            problems.append(f"error: {err}")
    if problems:  # one line per unreadable file, without the traceback of the workflow's loading
        sys.exit("\n".join(problems))
    entries = {s: "probs" if kind == "activity" else "dff" for s, kind in kinds.items()}
    if len(set(entries.values())) > 1:
        raise WorkflowError(f"raw_dir {RAW}: the fish must all be of kind activity or none of them: {kinds}")
    return next(iter(entries.values()))


RECORDINGS = find_recordings() if config["source"] in RECORDING_SOURCES else {}
ENTRY = entry_stage()


def script(name):
    """Path of a script in scripts/, wherever Snakemake runs from."""
    return os.path.normpath(os.path.join(REPO, "scripts", name))


def setting(path, *value):
    """The config's value at `path` (sbm.model.d_model), or `value` in its place, for a job's
    arguments: Snakemake records it under its path."""
    return config_setting(config, path, *value)


def job(name, untracked=(), code=True, reads=(), **arguments):
    """A rule's params, given as `params: **job("train_sbm.py", settings=...)`:
    - `command`: the script `name` of scripts/ and its command line: every named input, output and
      wildcard, the job's threads, and `arguments`, each as --<name> under the name of the
      script's argument that takes it (its Args dataclass: a test parses every planned job's
      command with its script's parser);
    - one entry per setting of `arguments` (but those named in `untracked`, which cannot change a
      result), and per file of the code the job runs: the script and every module of sbm/ it
      imports (not for `code=False`: a download's data does not depend on its code), by a digest
      that ignores comments, docstrings and formatting, and the repository files it `reads` (by
      content). Snakemake records these with each output: a changed setting or code reruns the job
      and what depends on it, and `snakemake -n` prints the entry before and now.
    Nothing recorded is an absolute path (the command is a function of the job's files, which
    Snakemake does not record): a project moved or copied elsewhere plans nothing."""
    path = script(name)

    def command(wildcards, input, output, threads):
        files = {**dict(wildcards.items()), **dict(input.items()), **dict(output.items()), "threads": threads}
        return f"{shlex.quote(path)} {command_line({**files, **arguments})}"

    sources = [*python_sources(path, os.path.join(REPO, "sbm")), *reads] if code else []
    return {"command": command, **settings_record(arguments, untracked), **code_record(sources, REPO)}


def raw(name, subject="{subject}"):
    return f"{RAW}/{subject}/{name}"


def evaluation_outputs():
    """The held-out metrics the figures draw (the inputs of `evaluate` and of `figures`), by the
    name draw_figures.py takes each under."""
    names = {
        "next_step": "next_step.json",
        "rollout": "rollout.json",
        "example": "rollout_example.h5",
        "fidelity": "fidelity.json",
        "embedding": "embedding.csv",
        "adapt": "adapt.json",
    }
    if config["source"] == "synthetic":  # the simulator's wiring is known
        names["connectome"] = "connectome.json"
    return {key: f"{RESULTS}/eval/{name}" for key, name in names.items()}


def behavior_outputs():
    """The held-out behaviour results figure 3 draws (the inputs of `behavior_figures`), by the
    name draw_behavior_figures.py takes each under."""
    names = {
        "behavior": "behavior.json",
        "predictions": "behavior_predictions.h5",
        "search": "search.json",
        "space": "behavior_space.csv",
        "pattern": "search_pattern.h5",
    }
    return {key: f"{RESULTS}/eval/{name}" for key, name in names.items()}


BEHAVIOR = bool(config["pnm"]["behaviors"])  # pnm.behaviors [] : a dataset without behaviour
if len(config["pnm"]["behaviors"]) == 1:
    raise WorkflowError(
        f"config pnm.behaviors {config['pnm']['behaviors']}: name none ([]: no behaviour stages) or at least 2"
        " (the pattern search works in the plane of the behaviours' first two principal components)"
    )


def pnm_models():
    """One PNM per behaviour dimension of the config."""
    return expand(f"{RESULTS}/pnm/{{behavior}}.pt", behavior=config["pnm"]["behaviors"])


def pnm_settings(*parts):
    """The `pnm` config keys a job reads; a change elsewhere in the section (say, the search) does
    not retrain the PNMs."""
    return {k: setting(f"pnm.{k}") for k in ("behaviors", "scale_quantile", *parts)}


def pnm_memory_mb(wildcards, input):
    """The behaviour stages hold their fish's brain states in memory as float16: a quarter of the
    probs files (which hold prob and rate in float32), with room for the batches."""
    return int(2000 + 0.4 * input.size_mb)


# Before the probs files exist Snakemake defers input.size_mb (a documented use) and leaves an
# unawaited coroutine behind, which Python reports as a RuntimeWarning: noise, not a problem.
warnings.filterwarnings("ignore", message="coroutine 'InputFiles._predicated_size_files", category=RuntimeWarning)


def all_outputs(wildcards):
    """Every file the pipeline builds from the raw data, intermediate ones included (the Snakefile's
    `all` adds the figures): Snakemake rebuilds a missing file only when a target asks for it, so
    listing them all here makes a plain `snakemake` rebuild a file that an interrupted run or a
    user removed, and everything built from it. The raw data is not listed: it may be removed
    after processing without being downloaded again. The split is checked here too: Snakemake
    skips a rule whose input function fails when its output already exists, so a bad split would
    otherwise go unnoticed behind old results."""
    subject_split()
    stages = ["dff", "rates", "probs"] if ENTRY == "dff" else ["probs"]
    outputs = [f"{RESULTS}/{stage}/{subject}.h5" for stage in stages for subject in SUBJECTS]
    if config["source"] == "synthetic":
        outputs.append(f"{RESULTS}/qc/dff_vs_truth.csv")
    models = ["split.yaml", "sbm/weights.pt", "baselines/forecasters.pt"]
    outputs += [f"{RESULTS}/{name}" for name in models] + list(peers().values())
    evaluation = [*evaluation_outputs().values(), f"{RESULTS}/eval/next_step_states.h5"]
    if BEHAVIOR:
        outputs += [f"{RESULTS}/baselines/behavior.pt", *pnm_models()]
        evaluation += behavior_outputs().values()
    return outputs + evaluation


# --- spike inference -------------------------------------------------------------------------
# Trained models are cached outside results/, keyed by the ground truth's content and the
# settings (sbm.workflow.spike_model_dir), one file per frame rate, so that every dataset and
# rerun trained on the same ground truth reuses them, wherever it lies.
GROUND_TRUTH_DIR = config["spikes"]["ground_truth_dir"] or "resources/cascade_ground_truth"
try:
    SPIKE_MODELS = spike_model_dir(config) if ENTRY == "dff" else None
except FileNotFoundError as err:
    raise WorkflowError(f"config spikes.ground_truth_dir: {err}") from err


def fps_key(fps):
    step = config["spikes"]["fps_resolution"]
    return f"{round(fps / step) * step:.2f}"


def spike_model_for(wildcards):
    """The model for this fish's frame rate: known only once its DF/F exists (a checkpoint)."""
    dff = getattr(checkpoints, "import_recording" if RECORDINGS else "dff").get(subject=wildcards.subject).output[0]
    with h5py.File(dff, "r") as f:
        return f"{SPIKE_MODELS}/fps{fps_key(float(f.attrs['fps']))}.pt"


def ground_truth_inputs(wildcards):
    if config["source"] == "synthetic" or config["spikes"]["ground_truth_dir"]:
        return []
    return [f"{GROUND_TRUTH_DIR}/manifest.json"]


# spikes.method auto: the ground-truth benchmark's results, by which the method is chosen.
SPIKE_BENCHMARK = os.path.join(REPO, "benchmarks", "spikes_ground_truth.json")


def truth_of(*parts):
    """Input function: the simulator's ground truth of the split's `parts` fish, in its order (none
    for real data: there is no truth to score against)."""

    def inputs(wildcards):
        if config["source"] != "synthetic":
            return []
        subjects = [s for part in parts for s in getattr(subject_split(), part)]
        return expand(raw("ground_truth.h5", "{subject}"), subject=subjects)

    return inputs


def peers():
    """The forecasters trained on the same fish beside the SBM (sbm.evaluate.peers), by the
    argument name the evaluation scripts take each under."""
    files = {"poco": f"{RESULTS}/poco/weights.pt", "sbm_no_spatial": f"{RESULTS}/sbm_no_spatial/weights.pt"}
    names = {"poco": "poco", "sbm_no_spatial": "ablation"}
    return {names[p]: files[p] for p in config["sbm"]["evaluate"]["peers"]}


# --- the Sparse Brain Model ------------------------------------------------------------------
def subject_split():
    """The split is a pure function of the config, so the rules know the training and held-out
    fish (their inputs) before anything runs; the split rule writes the same split to a file.
    Asked for lazily, so that runs that stop before the model need no valid split."""
    try:
        return make_split(SUBJECTS, SplitConfig.from_dict(config["split"]))
    except ValueError as err:
        raise WorkflowError(f"config split: {err}") from err


def probs_of(part):
    """Input function: the probs files of the split's `part` (train, val or heldout), in its order."""

    def inputs(wildcards):
        return expand(f"{RESULTS}/probs/{{subject}}.h5", subject=getattr(subject_split(), part))

    return inputs


def sbm_settings(spatial=None):
    """The SBM's settings; `spatial` replaces its spatial layer (the ablation's "none")."""
    settings = {k: setting(f"sbm.{k}") for k in ("model", "train")}
    if spatial is not None:
        settings["model"] = setting("sbm.model", {**config["sbm"]["model"], "spatial": spatial})
    return settings


def code_digests(name):
    """The digests of the code the script `name` runs (job's code record), as one list."""
    return sorted(code_record(python_sources(script(name), os.path.join(REPO, "sbm")), REPO).values())


def sbm_run_dir(spatial=None, folder="sbm"):
    """Training state (ckpts, metrics) of these settings and code: a rerun with the same settings
    and code resumes, a change starts a new folder (the weights output is what Snakemake tracks)."""
    key = {"sbm": plain(sbm_settings(spatial)), "split": config["split"]}
    # A ckpt of other training code is not resumed: a model or loop edited since starts afresh (an
    # edit of comments, docstrings or formatting changes no digest, and resumes).
    key["code"] = code_digests("train_sbm.py")
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    return f"{RESULTS}/{folder}/run-{digest}"


def adapt_run_dir():
    """The fine-tunes' ckpts: a rerun of the same settings and code resumes them (a retrained SBM
    restarts them: its weights are part of the ckpts' data)."""
    key = {
        "adapt": config["sbm"]["adapt"],
        "baselines": config["baselines"],
        "sbm": sbm_run_dir(),
        "code": code_digests("adapt_sbm.py"),
    }
    return f"{RESULTS}/adapt/run-{hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]}"


def launcher(wildcards, resources):
    """One process per GPU: torchrun with DDP when a job has several, plain python otherwise."""
    if resources.gpu > 1:
        return f"torchrun --standalone --nproc_per_node {resources.gpu}"
    return "python"
