"""The Snakemake workflow: dry runs of both configs, lint, config validation, and real tiny runs."""

import ast
import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from conftest import (
    SIMULATED_CASCADE,
    good_fields,
    load_script,
    run_script,
    suite2p_to_nwb,
    write_fields,
    write_suite2p,
)

from sbm.browser import browser_available
from sbm.cli import parse
from sbm.data.split import SplitConfig
from sbm.eval.adapt import AdaptConfig
from sbm.eval.insilico import InsilicoConfig
from sbm.eval.search import SearchConfig
from sbm.io.chen import read_chen_fish
from sbm.io.contracts import Adapt, Behavior, Connectome, Fidelity, Insilico, NextStep, Rollout, Search, read_result
from sbm.io.nwb import NWBSettings
from sbm.model.baselines import ORACLES
from sbm.model.pnm import PNMConfig
from sbm.model.sbm import SBMConfig
from sbm.spikes.dff import causal_baseline
from sbm.spikes.model import SpikeNetConfig
from sbm.synth.fish import SimConfig, simulate_fish
from sbm.train.baselines import ForecasterConfig
from sbm.train.behavior_baselines import BehaviorBaselineConfig
from sbm.train.pnm import PNMTrainConfig
from sbm.train.sbm import TrainConfig

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"


def snakemake(*args, cwd=REPO, check=True, cores=2, snakefile=SNAKEFILE):
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(snakefile),
        *(["--cores", str(cores)] if cores else []),
        *map(str, args),
    ]
    # Jobs call `python`: make it this interpreter even when its environment is not activated.
    env = dict(os.environ, PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]))
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def planned_jobs(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a dry run."""
    lines = output.split("Job stats:")[1].splitlines()[3:]
    jobs = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


def parsed_commands(output: str) -> dict[str, list]:
    """Every planned job's command line parsed by its script's own parser (an unknown, missing or
    malformed argument fails): rule -> the scripts' Args of its jobs."""
    parsed = {}
    for job in [j for j in job_blocks(output) if j["shell"] not in ("", "None")]:  # `all` runs nothing
        words = shlex.split(job["shell"])
        words = words[: words.index(">")] if ">" in words else words
        at = next(i for i, w in enumerate(words) if w.endswith(".py"))
        script = load_script(Path(words[at]).stem)
        try:
            parsed.setdefault(job["rule"], []).append(parse(script.Args, words[at + 1 :]))
        except SystemExit:
            raise AssertionError(f"{job['rule']}: {words[at]} refuses {' '.join(words[at + 1 :])}") from None
    return parsed


SYNTHETIC_FISH = [f"subject_{i}" for i in range(1, 6)]

# Rules without a benchmark file (wall time and memory), and why they are quick. Every other rule
# trains, fits, evaluates, downloads or reads every neuron-frame of a fish, and records its cost.
UNTIMED = {
    "all": "runs nothing",
    "split": "writes the subjects' names",
    "stimulus_vocabulary": "reads the stimulus names of each fish only",
    "figures": "draws from the evaluation's results",
    "insilico_figure": "draws from the evaluation's results",
    "insilico_page": "writes the evaluation's results into one page",
    "behavior_figures": "draws from the evaluation's results",
}


def test_dry_run_synthetic_default():
    proc = snakemake("-n", "--forceall", "-p")
    jobs = planned_jobs(proc.stdout)
    # Every job's command is its script's: the rule passes exactly the arguments the script takes.
    parsed = parsed_commands(proc.stdout)
    assert set(parsed) == set(jobs) - {"all"} and sum(map(len, parsed.values())) == sum(jobs.values()) - 1
    assert [str(p) for p in parsed["train_sbm"][0].train] == [
        f"results/synthetic/probs/subject_{i}.h5" for i in (1, 4, 5)
    ]  # the seed-0 split
    # The truth of the training and validation fish fits the ceiling, the held-out fish's scores
    # the forecasts; POCO is the peer (the ablation is left to the benchmark configuration).
    assert [p.parent.name for p in parsed["fit_baselines"][0].truth] == [
        "subject_1",
        "subject_4",
        "subject_5",
        "subject_3",
    ]
    evaluated = parsed["evaluate_rollout"][0]
    assert [p.parent.name for p in evaluated.truth] == ["subject_2"] and evaluated.poco and not evaluated.ablation
    spikes = parsed["spike_probability_figure"][0]  # every fish's probabilities, beside its truth
    assert [p.parent.name for p in spikes.ground_truth] == [p.stem for p in spikes.probs] == SYNTHETIC_FISH
    insilico = parsed["insilico"][0]  # the held-out fish replayed, the training fish's populations for lag-1
    assert [p.parent.name for p in insilico.truth] == ["subject_2"] and len(insilico.train_truth) == 3
    default = yaml.safe_load((REPO / "config/config.yaml").read_text())
    assert insilico.simulator["n_neurons"] == default["synthetic"]["n_neurons"] and insilico.pnm
    untimed = {job["rule"] for job in job_blocks(proc.stdout) if not job["benchmark"]}
    assert untimed == set(UNTIMED), "a rule that takes more than a few seconds needs a benchmark file"
    # The spike models (one per frame rate) join the plan once the DF/F checkpoint has run.
    assert jobs == {
        "simulate": 5,
        "stimulus_vocabulary": 1,
        "dff": 5,
        "synthetic_qc": 1,
        "spikes": 5,
        "probabilities": 5,
        "spike_probability_figure": 1,
        "split": 1,
        "train_sbm": 1,
        "train_poco": 1,
        "fit_baselines": 1,
        "evaluate_next_step": 1,
        "evaluate_rollout": 1,
        "adapt": 1,
        "evaluate_fidelity": 1,
        "evaluate_connectome": 1,
        "insilico": 1,
        "insilico_page": 1,
        "insilico_figure": 1,
        "figures": 1,
        "fit_behavior_baselines": 1,
        "train_pnm": 5,
        "evaluate_behavior": 1,
        "search_patterns": 1,
        "behavior_figures": 1,
        "all": 1,
    }


@pytest.mark.parametrize("config, fish, neurons", [("benchmark", 8, 2000), ("benchmark_gpu", 10, 12000)])
def test_benchmark_plans_its_fish_and_every_forecaster(config, fish, neurons):
    proc = snakemake("-n", "--forceall", "-p", "--configfile", REPO / f"config/{config}.yaml")
    jobs, parsed = planned_jobs(proc.stdout), parsed_commands(proc.stdout)
    assert jobs["simulate"] == fish and jobs["train_sbm"] == jobs["train_sbm_no_spatial"] == jobs["train_poco"] == 1
    assert parsed["simulate"][0].settings["n_neurons"] == neurons
    # The ablation is the SBM with spatial "none", in its own run folder, scored beside it.
    ablation = parsed["train_sbm_no_spatial"][0]
    assert ablation.settings["model"] == {**parsed["train_sbm"][0].settings["model"], "spatial": "none"}
    assert "sbm_no_spatial/run-" in str(ablation.run_dir) and parsed["evaluate_rollout"][0].ablation
    assert len(parsed["evaluate_next_step"][0].truth) == 2  # two held-out fish, scored against their truth
    poco, sbm = parsed["train_poco"][0].settings["train"], parsed["train_sbm"][0].settings["train"]
    assert (poco["steps"], poco["batch_size"]) == (sbm["max_steps"], sbm["batch_size"])  # the same budget


def test_the_ladders_rungs_read_and_train_on_what_they_say(tmp_path):
    """config/ladder.yaml plus a rung's layer (as benchmarks/interactions_ladder.py writes it): the
    probabilities jobs get the truth and say what the forecasters read and are trained on, the
    fish are shared between rungs (raw_dir), and the model's choices never saw the held-out fish."""
    rung = tmp_path / "clean_targets.yaml"
    rung.write_text(yaml.safe_dump({"dataset": "ladder_clean_targets", "probabilities": {"targets": "truth"}}))
    proc = snakemake("-n", "--forceall", "-p", "--configfile", REPO / "config/ladder.yaml", rung, cwd=tmp_path)
    parsed = parsed_commands(proc.stdout)
    probs = parsed["probabilities"]
    assert len(probs) == 9 and {(p.inputs, p.targets) for p in probs} == {("inferred", "truth")}
    assert all(str(p.truth).startswith("resources/ladder/raw/") for p in probs)
    split = yaml.safe_load((REPO / "config/ladder.yaml").read_text())["split"]
    assert not set(split["heldout"]) & set(split["train"] + split["val"])
    proc = snakemake("-n", "--configfile", REPO / "config/chen2018.yaml", rung, cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "only simulated fish have a truth" in proc.stdout + proc.stderr


def test_dry_run_chen2018_plans_download_and_dff_of_18_fish():
    jobs = planned_jobs(snakemake("-n", "--forceall", "--configfile", REPO / "config/chen2018.yaml").stdout)
    assert jobs == {
        "figshare_listing": 1,
        "download": 18,
        "stimulus_vocabulary": 1,
        "dff": 18,
        "spikes": 18,
        "probabilities": 18,
        "spike_probability_figure": 1,
        "split": 1,
        "train_sbm": 1,
        "train_sbm_no_spatial": 1,
        "train_poco": 1,
        "fit_baselines": 1,
        "evaluate_next_step": 1,
        "evaluate_rollout": 1,
        "adapt": 1,
        "evaluate_fidelity": 1,
        "insilico": 1,
        "insilico_page": 1,
        "insilico_figure": 1,
        "figures": 1,
        "fit_behavior_baselines": 1,
        "train_pnm": 5,
        "evaluate_behavior": 1,
        "search_patterns": 1,
        "behavior_figures": 1,
        "all": 1,
    }


def test_lint_is_clean():
    proc = snakemake("--lint")
    assert "Lints for" not in proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "bogus_key=1",
            "config key 'bogus_key' (from --config) is unknown; known here: baselines, cpu_allocator, dataset,",
        ),
        (
            "synthetic={'n_nerons': 5}",
            "config key 'synthetic.n_nerons' (from --config) is unknown; known here: chunk_frames,",
        ),
        (
            "source=matlab",
            "config key 'source' (from --config): 'matlab' is not one of ['synthetic', 'chen2018', 'table', 'nwb']",
        ),
        ("subjects=['fish 1']", "config key 'subjects.0' (from --config): 'fish 1' does not match"),
        ("sbm={'model': {'d_modle': 64}}", "config key 'sbm.model.d_modle' (from --config) is unknown"),
        (
            "sbm={'model': {'d_model': 64}}",
            "config key 'sbm.model.d_model' (from --config): '64' is not of type 'integer' "
            "(values nested inside --config arrive as strings: put them in a YAML file",
        ),
        (
            "split={'train': ['subject_1', 'subject_2'], 'val': ['subject_3'], 'heldout': ['subject_2']}",
            "appear in both train and heldout",
        ),
    ],
)
def test_bad_config_is_rejected(override, message):
    proc = snakemake("-n", "--forceall", "--config", override, check=False)  # the whole DAG, whatever exists
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    if message.startswith("config key"):  # the problem, not the whole schema and config
        assert len((proc.stdout + proc.stderr).splitlines()) < 15


def test_bad_config_file_names_the_file_and_every_problem(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        yaml.safe_dump(
            {"sbm": {"model": {"d_modle": 64, "n_heads": 0}}, "pnm": {"behaviors": ["left_turn", "left_turn"]}}
        )
    )
    proc = snakemake("-n", "--configfile", REPO / "config/chen2018.yaml", mine, check=False)
    lines = [line.strip() for line in (proc.stdout + proc.stderr).splitlines()]
    assert proc.returncode != 0 and len(lines) < 15
    assert f"config key 'sbm.model.d_modle' (from {mine}) is unknown; known here: aux_horizons, backend," in proc.stdout
    assert f"config key 'sbm.model.n_heads' (from {mine}): 0 is less than the minimum of 1" in lines
    assert f"config key 'pnm.behaviors' (from {mine}): ['left_turn', 'left_turn'] has non-unique elements" in lines


def job_blocks(output: str) -> list[dict]:
    """The jobs of a dry run: rule, threads, resources line, reason, benchmark file and shell command of each."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:\n)", output)[1:]:
        rule = re.match(r"(?:local)?(?:rule|checkpoint) (\w+):", block).group(1)
        threads = re.search(r"^    threads: (\d+)$", block, re.M)
        resources = re.search(r"^    resources: (.*)$", block, re.M)
        shell = re.search(r"^Shell command: (.*)$", block, re.M)
        reason = re.search(r"^    reason: (.*)$", block, re.M)
        benchmark = re.search(r"^    benchmark: (.*)$", block, re.M)
        jobs.append(
            {
                "rule": rule,
                "reason": reason.group(1) if reason else "",
                "threads": int(threads.group(1)) if threads else 1,
                "resources": resources.group(1) if resources else "",
                "benchmark": benchmark.group(1) if benchmark else "",
                "shell": shell.group(1) if shell else "",
            }
        )
    return jobs


def shell_settings(job: dict, flag: str = "--settings") -> dict:
    return json.loads(shlex.split(job["shell"])[shlex.split(job["shell"]).index(flag) + 1])


# The paper's settings (DESIGN.md, "The model"): what config/chen2018.yaml must train, evaluate
# and read behaviour with, whatever config/config.yaml (the synthetic default) sets.
PAPER_SBM = {
    "model": {"d_model": 256, "n_heads": 8, "n_layers": 4, "cluster_size": 384, "context": 12, "spatial": "routed"},
    "train": {
        "muon_lr": 0.02,
        "adamw_lr": 0.0005,
        "betas": [0.9, 0.95],
        "weight_decay": 0.0001,
        "clip": 1.0,
        "max_steps": 0,
    },
}
PAPER_PNM = {"model": {"frames": 4, "neuron_hidden": 32}, "train": {"steps": 2000, "warmup": 0.1, "clip": 1.0}}


def test_chen2018_plan_trains_the_papers_model(tmp_path):
    """The paper's configuration plans the paper's model, not the synthetic default's small one;
    and no key the synthetic default sets leaks into it (each takes the schema's default)."""
    raw = tmp_path / "raw"
    for s in ("subject_1", "subject_2", "subject_3"):
        simulate_fish(SimConfig(n_neurons=60, n_frames=120), s, raw / s)
    args = [
        "--configfile",
        REPO / "config/chen2018.yaml",
        "--config",
        f"raw_dir={raw}",
        "subjects=[subject_1,subject_2,subject_3]",
    ]
    # DF/F first: the spike models join the plan once the frame rates are known.
    snakemake(*args, "--", *[f"results/chen2018/dff/subject_{i}.h5" for i in (1, 2, 3)], cwd=tmp_path)
    plan = snakemake(*args, "-n", "-p", cwd=tmp_path).stdout
    by_rule = {job["rule"]: job for job in job_blocks(plan)}
    assert "spike_model" in parsed_commands(plan)  # the jobs past the checkpoint parse too
    sbm = shell_settings(by_rule["train_sbm"])
    for part, values in PAPER_SBM.items():
        assert {k: sbm[part][k] for k in values} == values
    pnm = shell_settings(by_rule["train_pnm"])
    for part, values in PAPER_PNM.items():
        assert {k: pnm[part][k] for k in values} == values
    spikes = shell_settings(by_rule["spike_model"])
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]
    spike_defaults = schema["spikes"]["properties"]["model"]["properties"]
    assert spikes["model"] == {k: v["default"] for k, v in spike_defaults.items()} and spikes["model"]["ensemble"] == 3
    synthetic = yaml.safe_load((REPO / "config/config.yaml").read_text())
    paper = yaml.safe_load((REPO / "config/chen2018.yaml").read_text())
    planned = {"sbm": sbm, "pnm": pnm, "spikes": spikes}
    for section in planned:
        for part, values in synthetic[section].items():
            if part not in planned[section]:
                continue  # sbm.evaluate: checked below
            for key, value in values.items() if isinstance(values, dict) else [(None, values)]:
                spec = schema[section]["properties"][part]
                default = spec["properties"][key]["default"] if key else spec["default"]
                got = planned[section][part][key] if key else planned[section][part]
                if key in paper.get(section, {}).get(part, {}):  # set by the paper's file itself
                    assert got == paper[section][part][key], (section, part, key)  # (own_forecasts)
                    continue
                assert got == default != value, (section, part, key)
    evaluate = by_rule["evaluate_rollout"]["shell"]
    assert "--starts 16 " in evaluate and "--stride 1 " in by_rule["evaluate_next_step"]["shell"]


def test_slurm_plan_gives_each_job_as_many_cpus_as_threads():
    """With profiles/slurm the executor asks SLURM for as many CPUs as a job has threads (no
    cpus_per_task anywhere); every job's --threads must be those threads."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    proc = snakemake(
        "-n",
        "--forceall",
        "--workflow-profile",
        REPO / "profiles/slurm",
        "--configfile",
        REPO / "config/chen2018.yaml",
        cores=None,
    )
    jobs = job_blocks(proc.stdout)
    assert len(jobs) > 50
    threads = {}
    for job in jobs:
        assert "cpus_per_task" not in job["resources"] and "cpus_per_gpu" not in job["resources"], job["rule"]
        flag = re.search(r"--threads (\d+)", job["shell"])
        if flag:
            assert int(flag.group(1)) == job["threads"], job["rule"]
        threads[job["rule"]] = job["threads"]
    assert (
        threads["train_sbm"] == threads["evaluate_next_step"] == threads["evaluate_rollout"] == 8
    )  # the profile's max-threads
    assert threads["spikes"] == 2 and threads["dff"] == 1
    assert "gpu=1" in next(job["resources"] for job in jobs if job["rule"] == "train_sbm")


def test_a_rule_depends_on_the_code_it_runs():
    from sbm.workflow import python_sources

    sources = [os.path.relpath(p, REPO) for p in python_sources(REPO / "scripts/train_sbm.py", REPO / "sbm")]
    assert sources[-1] == "scripts/train_sbm.py"
    assert {
        "sbm/model/sbm.py",
        "sbm/train/sbm.py",
        "sbm/data/windows.py",
        "sbm/__init__.py",
        "sbm/io/__init__.py",
    } <= set(sources)
    assert "sbm/figures.py" not in sources and "sbm/eval/rollout.py" not in sources


def test_code_digest_ignores_comments_docstrings_and_formatting(tmp_path):
    """What reruns a job is what its code does: an edit of comments, docstrings or formatting
    keeps the digest, any other edit changes it."""
    from sbm.workflow import code_digest

    def digest(*lines):
        path = tmp_path / f"module{len(list(tmp_path.iterdir()))}.py"  # a new file each: digests are cached by path
        path.write_text("\n".join(lines) + "\n")
        return code_digest(path)

    base = digest('"""A module."""', "class A:", '    """A class."""', "    def f(self, x):", "        return x + 1")
    assert base == digest(
        '"""Another."""', "class A:", "    def f(self, x):", '        """New."""', "        return x + 1"
    )
    assert base == digest(
        "# a comment", "class A:", "    def f(self, x):", "        return (", "            x + 1", "        )"
    )
    assert base != digest("class A:", "    def f(self, x):", "        return x + 2")
    assert base != digest("class A:", "    def f(self, y):", "        return y + 1")
    # A string after the first statement is code, not a docstring.
    assert digest("class A:", "    def f(self, x):", "        x = x", "        return x + 1") != digest(
        "class A:", "    def f(self, x):", "        x = x", '        "a string"', "        return x + 1"
    )


def test_settings_are_recorded_under_their_config_path():
    from sbm.workflow import command_line, config_setting, settings_record

    config = {"sbm": {"model": {"d_model": 32, "sizes": [1, 2]}, "evaluate": {"stride": 8}}, "download": {"retries": 5}}
    arguments = {
        "settings": {"model": config_setting(config, "sbm.model")},
        "stride": config_setting(config, "sbm.evaluate.stride"),
        "spatial": config_setting(config, "sbm.model", {"d_model": 32, "spatial": "none"}),
        "run_dir": "results/x/run-1",
        "retries": config_setting(config, "download.retries"),
    }
    record = settings_record(arguments, untracked=("retries",))
    assert set(record.values()) == {
        ("sbm.model.d_model", 32),
        ("sbm.model.sizes", (1, 2)),  # a list is one setting
        ("sbm.evaluate.stride", 8),
        ("sbm.model.spatial", "none"),
        ("run_dir", "results/x/run-1"),
    }
    # The script is given the values (untracked ones included), never the wrappers.
    assert shlex.split(command_line(arguments)) == [
        "--settings",
        '{"model": {"d_model": 32, "sizes": [1, 2]}}',
        "--stride",
        "8",
        "--spatial",
        '{"d_model": 32, "spatial": "none"}',
        "--run-dir",
        "results/x/run-1",
        "--retries",
        "5",
    ]


def test_the_spike_models_folder_is_keyed_by_the_ground_truths_content(tmp_path, simulated_ground_truth):
    """The same ground truth in two places gives one folder; other content, another; the script
    prints the folder the workflow uses."""
    from sbm.workflow import read_config, spike_model_dir

    copies = [tmp_path / "a", tmp_path / "elsewhere" / "b"]
    configs = []
    for i, copy in enumerate(copies):
        shutil.copytree(simulated_ground_truth, copy)
        configs.append([REPO / "config/chen2018.yaml", tmp_path / f"local{i}.yaml"])
        spikes = {"ground_truth_dir": str(copy), "ground_truth_datasets": [SIMULATED_CASCADE]}
        configs[-1][1].write_text(yaml.safe_dump({"spikes": spikes}))
    folders = [spike_model_dir(read_config(*c)) for c in configs]
    assert folders[0] == folders[1] and folders[0].startswith("resources/spike_models/cascade-")
    first = sorted((copies[1] / SIMULATED_CASCADE).glob("*_mini.mat"))[0]
    first.write_bytes(first.read_bytes() + b"\0")
    assert spike_model_dir(read_config(*configs[1])) != folders[0]
    # A download is keyed by its pinned commit: another commit, another folder.
    download = read_config(REPO / "config/chen2018.yaml")
    other = {**download, "spikes": {**download["spikes"], "ground_truth_ref": "0" * 40}}
    assert spike_model_dir(download) != spike_model_dir(other)
    printed = subprocess.run(
        [sys.executable, REPO / "scripts/spike_model_dir.py", "--configfile", *configs[0]],
        capture_output=True,
        text=True,
        check=True,
    )
    assert printed.stdout.strip() == folders[0]


@pytest.mark.parametrize(
    "section, dataclass",
    [
        (("synthetic",), SimConfig),
        (("spikes", "model"), SpikeNetConfig),
        (("split",), SplitConfig),
        (("sbm", "model"), SBMConfig),
        (("sbm", "train"), TrainConfig),
        (("sbm", "adapt"), AdaptConfig),
        (("baselines",), ForecasterConfig),
        (("pnm", "model"), PNMConfig),
        (("pnm", "train"), PNMTrainConfig),
        (("pnm", "baselines"), BehaviorBaselineConfig),
        (("pnm", "search"), SearchConfig),
        (("insilico",), InsilicoConfig),
        (("nwb",), NWBSettings),
    ],
)
def test_schema_defaults_match_the_dataclasses(section, dataclass):
    """The config maps one to one onto the settings dataclasses, with the same defaults."""
    spec = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    for key in section:
        spec = spec["properties"][key]
    defaults = dataclass()
    from_data = {"n_stimuli"}  # set from the data, not the config
    assert set(spec["properties"]) == set(vars(defaults)) - from_data
    for name, field in spec["properties"].items():
        value = getattr(defaults, name)
        assert field["default"] == (list(value) if isinstance(value, tuple) else value), name


def test_environment_yml_lists_the_package_dependencies():
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = lambda specs: {s.split(">")[0].split("=")[0].split("<")[0].strip() for s in specs}  # noqa: E731
    env = yaml.safe_load((REPO / "environment.yml").read_text())["dependencies"]
    conda_names = {"pytorch": "torch"}  # conda-forge's name for a package -> PyPI's
    assert names(deps) <= {conda_names.get(n, n) for n in names(d for d in env if isinstance(d, str))}


# Spike models trained for a few steps only: this checks the plumbing, not the model.
QUICK_SPIKES = {
    "repeats": 1,
    "calibration_fish": 1,
    "training_noise_levels": [4],
    "model": {"steps": 20, "ensemble": 1},
}
# An SBM trained for a few steps: the plumbing again. Its clusters are larger than the tiny fish
# (about 200 neurons): the small-brain path, one cluster of all of a fish's neurons.
QUICK_SBM = {
    "model": {"d_model": 16, "n_heads": 2, "n_layers": 1, "cluster_size": 256},
    "train": {"max_steps": 6, "batch_size": 2, "val_windows": 4},
    "evaluate": {"stride": 20, "rollout_horizon": 4, "rollout_starts": 2},
    # half a minute and a minute of each held-out fish (about 2.2 minutes long), a few steps each
    "adapt": {"minutes": [0, 0.5, 1], "min_eval_minutes": 0.5, "steps": 4, "batch_size": 2, "val_windows": 4},
}
QUICK_BASELINES = {"windows": 20, "steps": 100}
QUICK_POCO = {
    "model": {"d_model": 16, "n_latents": 4, "n_latent_layers": 1},
    "train": {"steps": 6, "batch_size": 2, "val_windows": 4},
}
# PNMs for two behaviours, a few steps; a 3 x 3 search.
QUICK_PNM = {
    "behaviors": ["left_turn", "raw_left"],
    "model": {"neuron_hidden": 8, "neuron_features": 8},
    "train": {"steps": 20, "val_every": 10},
    "search": {"grid": 3, "steps": 10},
}
TINY = {
    "dataset": "tiny",
    "source": "synthetic",
    "subjects": ["subject_1", "subject_2", "subject_3"],
    "synthetic": {"n_neurons": 200, "n_frames": 300},
    "spikes": QUICK_SPIKES,
    "sbm": QUICK_SBM,
    "baselines": QUICK_BASELINES,
    "poco": QUICK_POCO,
    "pnm": QUICK_PNM,
    # Every population excited inside 3-frame rollouts from one start.
    "insilico": {"kinds": ["excite"], "starts": 1, "horizon": 3, "start": 1, "duration": 2},
}


@pytest.mark.slow
def test_tiny_synthetic_run_end_to_end(tmp_path, tmp_path_factory):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    snakemake("--configfile", config, cwd=tmp_path)
    for s in TINY["subjects"]:
        with h5py.File(tmp_path / f"results/tiny/dff/{s}.h5") as f:
            assert f["dff"].shape[0] == 298 and f["dff"].shape[1] > 190
            assert f.attrs["subject"] == s
        assert (tmp_path / f"logs/tiny/dff/{s}.log").stat().st_size > 0
        with h5py.File(tmp_path / f"results/tiny/probs/{s}.h5") as f:
            assert f["prob"].shape[0] == 298 and f.attrs["lookahead"] == 0
            assert 0 <= f["prob"][()].min() and f["prob"][()].max() < 1
            assert f.attrs["floor"] <= 0.05 and f["silent_p"].shape == f["cell_id"].shape  # issue 28
    spikes = json.loads((tmp_path / "results/tiny/qc/spike_probabilities.json").read_text())
    assert [f["subject"] for f in spikes] == TINY["subjects"] and (
        tmp_path / "results/tiny/figures/spike_probabilities.png"
    ).exists()
    assert len(list((tmp_path / "resources/spike_models").glob("synthetic-*/fps*.pt"))) >= 1
    rows = list(csv.DictReader(open(tmp_path / "results/tiny/qc/dff_vs_truth.csv")))
    assert [r["subject"] for r in rows] == TINY["subjects"]
    assert all(float(r["median_r_lag0"]) > 0.2 for r in rows)
    split = yaml.safe_load((tmp_path / "results/tiny/split.yaml").read_text())
    result = read_result(tmp_path / "results/tiny/eval/next_step.json", NextStep)
    fitted = {"ridge", "mlp", "ridge_neighbours", "ridge_pca", "poco", "sbm_no_spatial", *ORACLES}
    assert result["heldout"] == split["heldout"] and set(result["mae"]) == {
        "sbm",
        "persistence",
        "context_mean",
        "neuron_mean",
        *fitted,
    }
    # Simulated fish: every forecaster also scored against the simulator's truth, the ceiling at 1.
    assert set(result["truth"]["mae"]) == set(result["mae"]) and result["truth"]["floor_to_ceiling"]["ceiling"] == 1
    assert len(list((tmp_path / "results/tiny/sbm").glob("run-*/metrics.csv"))) == 1
    rollout = read_result(tmp_path / "results/tiny/eval/rollout.json", Rollout)
    assert rollout["horizon"] == [1, 2, 3, 4] and set(rollout["growth_exponent"]) == {"sbm", "persistence", *fitted}
    assert len(rollout["truth"]["mae"]["ceiling"]) == 4
    for name in ("fidelity.json", "embedding.csv", "connectome.json", "rollout_example.h5", "next_step_states.h5"):
        assert (tmp_path / "results/tiny/eval" / name).stat().st_size > 0
    fidelity = read_result(tmp_path / "results/tiny/eval/fidelity.json", Fidelity)
    assert set(fidelity["metrics"]) == {"sbm", "persistence", "context_mean", "neuron_mean", *fitted}
    connectome = read_result(tmp_path / "results/tiny/eval/connectome.json", Connectome)
    assert 0 <= connectome["auroc"]["attention"] <= 1 and 0 <= connectome["auroc"]["lag1_correlation"] <= 1
    assert len(result["mae_by_context"]["sbm"]) == 12
    adapt = read_result(tmp_path / "results/tiny/eval/adapt.json", Adapt)
    assert adapt["minutes"] == [0, 0.5, 1] and len(adapt["next_step_mae"]["sbm"]) == 3
    assert adapt["next_step_mae"]["persistence"][0] == adapt["next_step_mae"]["persistence"][2]  # one scored segment
    behavior = read_result(tmp_path / "results/tiny/eval/behavior.json", Behavior)
    assert behavior["behaviors"] == ["left_turn", "raw_left"] and set(behavior["r"]) == {
        f"{m}_{s}" for m in ("pnm", "ridge", "pca_ridge") for s in ("observed_states", "sbm_states")
    }
    insilico = read_result(tmp_path / "results/tiny/eval/insilico.json", Insilico)
    assert insilico["targets"] == "populations" and len(insilico["experiments"]) >= 20
    assert {"sbm", "lag1", "ridge", "poco", "sbm_no_spatial"} <= set(insilico["scores"])
    assert insilico["scores"]["ridge"]["r"]["n"] == 0  # a per-neuron forecaster carries nothing elsewhere
    assert set(insilico["behavior"]) == {"left_turn"}  # the PNMs that read a behaviour the simulator drives
    check_insilico_page(tmp_path / "results/tiny/insilico.html")
    search = read_result(tmp_path / "results/tiny/eval/search.json", Search)
    assert set(search["coverage"]) == {"observed", "real", "random", "optimised"}
    objective = search["per_subject"][split["heldout"][0]]["objective"]
    assert objective["end"] < objective["start"]
    check_report(tmp_path)
    # Nothing left to do; `-R dff` reruns that stage and what depends on it, not the simulation
    # (nor the split, which depends on the subjects' names only).
    assert "Nothing to be done" in snakemake("--configfile", config, "-n", cwd=tmp_path).stdout
    check_every_setting_is_recorded(tmp_path)
    check_a_changed_setting_reruns_what_reads_it(tmp_path, config)
    check_a_moved_run_plans_nothing(tmp_path, tmp_path_factory.mktemp("moved"))
    jobs = planned_jobs(snakemake("--configfile", config, "-n", "-R", "dff", cwd=tmp_path).stdout)
    assert jobs == {
        "dff": 3,
        "synthetic_qc": 1,
        "spikes": 3,
        "probabilities": 3,
        "spike_probability_figure": 1,
        "train_sbm": 1,
        "train_sbm_no_spatial": 1,
        "train_poco": 1,
        "fit_baselines": 1,
        "evaluate_next_step": 1,
        "evaluate_rollout": 1,
        "adapt": 1,
        "evaluate_fidelity": 1,
        "evaluate_connectome": 1,
        "insilico": 1,
        "insilico_page": 1,
        "insilico_figure": 1,
        "figures": 1,
        "fit_behavior_baselines": 1,
        "train_pnm": 2,
        "evaluate_behavior": 1,
        "search_patterns": 1,
        "behavior_figures": 1,
        "all": 1,
    }
    check_missing_intermediate_is_rebuilt(tmp_path, config)
    check_fish_without_behaviour(tmp_path, config, split)


def recorded_settings(folder) -> dict[str, set]:
    """What Snakemake recorded of the finished jobs in `folder`: rule -> the names of its settings
    (config paths) and the code files it ran."""
    recorded = {}
    for path in (folder / ".snakemake/metadata").iterdir():
        record = json.loads(path.read_text())
        entries = [ast.literal_eval(entry) for entry in record["params"]]
        names = {entry[1] if entry[0] == "code" else entry[0] for entry in entries}
        assert not any(str(entry[-1]).startswith("/") for entry in entries), f"{record['rule']} records a path"
        recorded.setdefault(record["rule"], set()).update(names)
    return recorded


def schema_keys(node=None, path=()) -> list[str]:
    node = node or yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    if "properties" not in node:
        return [".".join(path)]
    return [key for name, item in node["properties"].items() for key in schema_keys(item, (*path, name))]


# Settings no job of a simulated dataset records, and why.
NOT_RECORDED = {
    "dataset": "names the folders of the results: another dataset is another set of files",
    "source": "chooses the rules",
    "raw_dir": "where the raw data lies, not what it is: the raw files are the jobs' inputs",
    "cpu_allocator": "how the jobs run, not what they compute",
    "spikes.fps_resolution": "in the name of each spike model's file (fps<rate>.pt)",
    "spikes.ground_truth_dir": "where the ground truth lies: the spike models' folder is keyed by its content",
    "sbm.evaluate.peers": "chooses the forecasters trained beside the SBM: the evaluations' inputs",
}
# Read only by the rules of other sources: real data in the Chen layout (the chen_run test checks
# them), downloads (not run by the tests: no network) and NWB files.
OTHER_SOURCES = ("download.", "reader.", "nwb.", "spikes.ground_truth_")


def check_every_setting_is_recorded(folder):
    """Every setting of the schema is recorded by some finished job (a changed setting reruns it),
    under its config path, or is listed above with the reason; no job records a path."""
    recorded = set().union(*recorded_settings(folder).values())
    recorded |= {".".join(name.split(".")[:i]) for name in recorded for i in range(1, name.count(".") + 1)}
    missing = [
        key
        for key in schema_keys()
        if key not in recorded and key not in NOT_RECORDED and not key.startswith(OTHER_SOURCES)
    ]
    assert not missing, f"settings that rerun nothing when changed: {missing}"


# One setting per section, changed in the config file after a finished run: the rules that read it.
CHANGES = [
    ("sbm.model.d_model", 24, {"train_sbm", "train_sbm_no_spatial"}),
    ("sbm.train.max_steps", 7, {"train_sbm", "train_sbm_no_spatial"}),
    ("sbm.evaluate.stride", 10, {"evaluate_next_step", "adapt"}),
    ("sbm.adapt.steps", 5, {"adapt"}),
    # The spike models of the new DF/F join the plan once it has run (a checkpoint): not in a dry run.
    ("synthetic.n_frames", 310, {"simulate", "insilico"}),
    ("dff.baseline_percentile", 10.0, {"dff"}),
    ("spikes.model.steps", 21, {"spike_model"}),
    ("baselines.steps", 101, {"fit_baselines", "adapt"}),
    ("poco.train.steps", 7, {"train_poco"}),
    ("pnm.model.neuron_hidden", 9, {"train_pnm", "fit_behavior_baselines"}),
    ("pnm.search.steps", 11, {"search_patterns"}),
    ("insilico.horizon", 4, {"insilico"}),
]


def check_a_changed_setting_reruns_what_reads_it(folder, config):
    """After a finished run, a setting changed in the config file plans the jobs that read it,
    with the reason naming the key before and now, and the jobs built from their outputs: nothing
    else. The spike models, keyed by their settings, go to a new folder (missing there)."""
    original = config.read_text()
    try:
        for key, value, rules in CHANGES:
            changed = yaml.safe_load(original)
            *parents, leaf = key.split(".")
            node = changed
            for part in parents:
                node = node.setdefault(part, {})
            before, node[leaf] = node.get(leaf), value
            config.write_text(yaml.safe_dump(changed))
            jobs = job_blocks(snakemake("--configfile", config, "-n", cwd=folder).stdout)
            direct = {j["rule"] for j in jobs if j["reason"].startswith("Params have changed")}
            missing = {j["rule"] for j in jobs if j["reason"].startswith("Missing output files")}
            downstream = {
                j["rule"]
                for j in jobs
                if j["reason"].startswith(("Input files updated by another job", "Set of input files has changed"))
            }
            # A dry run prints one reason per job: a job whose inputs are rebuilt too says so instead.
            assert (
                direct | missing
                and direct | missing <= rules <= {j["rule"] for j in jobs}
                and missing <= {"spike_model"}
            ), key
            assert direct | missing | downstream == {j["rule"] for j in jobs}, key  # no other reason
            for job in jobs:
                if job["rule"] in direct:
                    assert f"('{key}', {value!r})" in job["reason"], (key, job["reason"])
                    if before is not None:
                        assert f"('{key}', {before!r})" in job["reason"], (key, job["reason"])
    finally:
        config.write_text(original)
    assert "Nothing to be done" in snakemake("--configfile", config, "-n", cwd=folder).stdout


def check_a_moved_run_plans_nothing(folder, elsewhere):
    """A finished run copied elsewhere (the repository too, as a project moved to another disk or
    a cluster's mount) plans nothing."""
    run, repo = elsewhere / "run", elsewhere / "repo"
    shutil.copytree(folder, run, symlinks=True)  # copies keep their modification times
    for name in ("workflow", "scripts", "sbm", "config", "profiles", "benchmarks"):
        shutil.copytree(REPO / name, repo / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    proc = snakemake("--configfile", run / "tiny.yaml", "-n", cwd=run, snakefile=repo / "workflow/Snakefile")
    assert "Nothing to be done" in proc.stdout, proc.stdout[-3000:]


def check_missing_intermediate_is_rebuilt(folder, config):
    """A file lost from the middle of the chain (an interrupted rerun, a user's rm) is rebuilt by a
    plain run, with everything built from it."""
    dff = folder / "results/tiny/dff/subject_2.h5"
    aside = folder / "dff_subject_2.h5"
    os.rename(dff, aside)
    try:
        jobs = planned_jobs(snakemake("--configfile", config, "-n", cwd=folder).stdout)
    finally:
        os.rename(aside, dff)
    assert (
        jobs["dff"] == 1
        and jobs["spikes"] == 1
        and jobs["probabilities"] == 1
        and jobs["train_sbm"] == 1
        and jobs["figures"] == 1
    )


def check_fish_without_behaviour(folder, config, split):
    """A training fish loses its behaviour: the PNM stage stops with the reason, and the stages
    that do not read behaviour (here, rerun: a rollout evaluation and figures 1-2) still run."""
    probs = folder / f"results/tiny/probs/{split['train'][0]}.h5"
    stat = probs.stat()
    with h5py.File(probs, "r+") as f:
        del f["behavior"]
        f.attrs["behavior_problem"] = "data_full.mat has no Behavior_full"
    os.utime(probs, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # unchanged for Snakemake: only the forced jobs run
    figure = folder / "results/tiny/figures/rollouts.png"
    before = figure.stat().st_mtime_ns
    # The shipped profile (keep-going) as a user in the repository gets it.
    proc = snakemake(
        "--configfile",
        config,
        "--workflow-profile",
        REPO / "profiles/default",
        "--forcerun",
        "train_pnm",
        "evaluate_rollout",
        cwd=folder,
        check=False,
    )
    assert proc.returncode != 0
    log = (folder / "logs/tiny/train_pnm/left_turn.log").read_text()
    assert f"{probs.name}: this fish has no usable behaviour (data_full.mat has no Behavior_full)" in log
    assert figure.stat().st_mtime_ns > before  # figures 1-2 were drawn again despite the failure


def check_report(folder):
    """`snakemake --report` embeds every figure; where Chromium is installed, they must show."""
    snakemake("--configfile", folder / "tiny.yaml", "--report", folder / "report.html", cwd=folder)
    report_check = load_script("check_report")
    figures = report_check.FIGURES | {"Connectome": ["connectome.png"]}
    html = (folder / "report.html").read_text()
    for names in figures.values():
        for name in names:
            assert f"filename={name}" in html  # embedded as a data URI
    if not report_check.browser_available():
        warnings.warn("the report was not opened: no chromium, chromedriver or selenium here")
        return
    shown = report_check.check_report(folder / "report.html", figures)
    assert (
        all(width > 100 for name, width in shown.items() if name.endswith(".png"))
        and shown["next_step_table.html"] >= 24
    )


def check_insilico_page(page):
    """The in-silico page is one self-contained file; where Chromium is installed, choosing another
    target redraws the brain map."""
    html = page.read_text()
    assert "<script" in html and "http://" not in html and "https://" not in html
    if not browser_available():
        warnings.warn("the in-silico page was not opened: no chromium, chromedriver or selenium here")
        return
    changed = load_script("check_insilico_page").check_page(page)
    assert changed["map_changed"] and changed["targets"] >= 20


CHEN_SUBJECTS = ["subject_3", "subject_7", "subject_8"]


@pytest.fixture(scope="module")
def chen_run(tmp_path_factory, simulated_ground_truth):
    """The real-data configuration on data already on disk (here simulated, in the same layout),
    with ground truth in CASCADE's format from a local folder: its folder, its config files, and
    its planned jobs (planned before it ran)."""
    folder = tmp_path_factory.mktemp("chen")
    raw = folder / "chen_raw"
    for s in CHEN_SUBJECTS:
        simulate_fish(
            SimConfig(n_neurons=150, n_frames=250, mat_format="v7.3" if s == "subject_7" else "v5"), s, raw / s
        )
    local = folder / "local.yaml"
    spikes = {
        **QUICK_SPIKES,
        "ground_truth_dir": str(simulated_ground_truth),
        "ground_truth_datasets": [SIMULATED_CASCADE],
    }
    local.write_text(
        yaml.safe_dump(
            {
                "raw_dir": str(raw),
                "subjects": CHEN_SUBJECTS,
                "spikes": spikes,
                "sbm": QUICK_SBM,
                "baselines": QUICK_BASELINES,
                "poco": QUICK_POCO,
                "pnm": QUICK_PNM,
            }
        )
    )
    args = ["--configfile", REPO / "config/chen2018.yaml", local]
    jobs = planned_jobs(snakemake(*args, "-n", cwd=folder).stdout)
    snakemake(*args, cwd=folder)
    return folder, args, jobs


@pytest.mark.slow
def test_chen2018_path_with_raw_dir_skips_download(chen_run):
    folder, _, jobs = chen_run
    assert jobs == {
        "stimulus_vocabulary": 1,
        "dff": 3,
        "spikes": 3,
        "probabilities": 3,
        "spike_probability_figure": 1,
        "split": 1,
        "train_sbm": 1,
        "train_sbm_no_spatial": 1,
        "train_poco": 1,
        "fit_baselines": 1,
        "evaluate_next_step": 1,
        "evaluate_rollout": 1,
        "adapt": 1,
        "evaluate_fidelity": 1,
        "insilico": 1,
        "insilico_page": 1,
        "insilico_figure": 1,
        "figures": 1,
        "fit_behavior_baselines": 1,
        "train_pnm": 2,
        "evaluate_behavior": 1,
        "search_patterns": 1,
        "behavior_figures": 1,
        "all": 1,
    }
    with h5py.File(folder / "results/chen2018/dff/subject_7.h5") as f:
        assert f["dff"].shape[0] == 248 and "all_white" in list(f.attrs["stimulus_names"])
    with h5py.File(folder / "results/chen2018/probs/subject_7.h5") as f:
        assert f["prob"].shape[0] == 248
    assert not (folder / "resources/cascade_ground_truth").exists()  # a local ground truth: no download
    # The settings of real data in the Chen layout are recorded (a change reruns what reads them);
    # where the raw data and the ground truth lie is not (recorded_settings refuses a path).
    recorded = recorded_settings(folder)
    assert {"reader.position_field", "reader.voxel_size_um"} <= recorded["dff"]
    assert "spikes.ground_truth_datasets" in recorded["spike_model"]


def export(folder, fmt, out, regions=0, raw="chen_raw", subjects=CHEN_SUBJECTS):
    """The fish of a Chen-layout folder written by scripts/export_fish.py, as a user would."""
    config = folder / f"export_{fmt}.yaml"
    config.write_text(
        yaml.safe_dump({"dataset": "x", "source": "chen2018", "raw_dir": str(folder / raw), "subjects": subjects})
    )
    argv = ["--config", config, "--format", fmt, "--out-dir", out, "--regions", regions]
    assert run_script("export_fish", argv) == 0, f"export to {fmt} failed"


@pytest.mark.slow
def test_the_same_fish_as_table_and_nwb_files_give_the_chen_paths_numbers(chen_run):
    """The Chen run's fish exported to the table format run through the whole pipeline to the same
    held-out numbers; exported to NWB, to the same probs files (whose every later stage is the
    same code)."""
    folder, args, _ = chen_run
    for fmt in ("table", "nwb"):
        export(folder, fmt, folder / f"{fmt}_raw")
        mine = folder / f"{fmt}.yaml"
        mine.write_text(yaml.safe_dump({"dataset": fmt, "source": fmt, "raw_dir": str(folder / f"{fmt}_raw")}))
        targets = [] if fmt == "table" else [f"results/nwb/probs/{s}.h5" for s in CHEN_SUBJECTS]
        snakemake(*args, mine, "--", *targets, cwd=folder)
        for s in CHEN_SUBJECTS:
            with (
                h5py.File(folder / f"results/chen2018/probs/{s}.h5") as a,
                h5py.File(folder / f"results/{fmt}/probs/{s}.h5") as b,
            ):
                for name in ("prob", "rate", "xyz", "stimulus", "cell_id"):
                    assert np.array_equal(a[name][()], b[name][()]), f"{fmt} {s}: {name} differs"
                assert list(a.attrs["stimulus_names"]) == list(b.attrs["stimulus_names"])
    for name, kind in (("next_step.json", NextStep), ("rollout.json", Rollout), ("behavior.json", Behavior)):
        chen, table = (read_result(folder / f"results/{d}/eval/{name}", kind) for d in ("chen2018", "table"))
        assert table["per_subject"] == chen["per_subject"], name


@pytest.mark.slow
def test_region_level_fish_at_1_hz_train_and_evaluate_with_default_settings(tmp_path):
    """Region averages (40 regions, about 1 Hz, kind activity) enter at the probabilities and go
    through every stage, with the schema's cluster size (far more than 40 regions)."""
    subjects = ["subject_1", "subject_2", "subject_3"]
    for s in subjects:
        simulate_fish(SimConfig(n_neurons=400, n_frames=300, fps_range=(0.9, 1.1)), s, tmp_path / "raw" / s)
    export(tmp_path, "npz", tmp_path / "regions", regions=40, raw="raw", subjects=subjects)
    sbm = {**QUICK_SBM, "model": {k: v for k, v in QUICK_SBM["model"].items() if k != "cluster_size"}}
    config = {"dataset": "regions", "source": "table", "raw_dir": str(tmp_path / "regions"), "subjects": subjects}
    config.update(sbm=sbm, baselines=QUICK_BASELINES, poco=QUICK_POCO, pnm=QUICK_PNM)
    (tmp_path / "regions.yaml").write_text(yaml.safe_dump(config))
    jobs = planned_jobs(snakemake("--configfile", tmp_path / "regions.yaml", "-n", cwd=tmp_path).stdout)
    assert jobs["import_recording"] == 3 and "spikes" not in jobs and "dff" not in jobs
    snakemake("--configfile", tmp_path / "regions.yaml", cwd=tmp_path)
    with h5py.File(tmp_path / "results/regions/probs/subject_1.h5") as f:
        assert f.attrs["method"] == "given activity" and f["prob"].shape[1] <= 40 and 0.9 <= f.attrs["fps"] <= 1.1
    result = read_result(tmp_path / "results/regions/eval/next_step.json", NextStep)
    assert {"sbm", "ridge", "poco"} <= set(result["mae"]) and result["truth"] is None


@pytest.mark.slow
def test_suite2p_output_converted_by_neuroconv_runs_to_the_probabilities(tmp_path, simulated_ground_truth):
    """Three fish's suite2p planes (F holding 0.7 of a neuropil signal, some ROIs not cells),
    converted with neuroconv's Suite2pSegmentationInterface as a lab does, run to the probabilities
    with only source, raw_dir, subjects and the pixel size set (besides the tests' fast spike
    models on local ground truth): the cells, neuropil-corrected, at their centres in micrometres."""
    subjects, pixel_um, shape, not_cells = ["fish_01", "fish_02", "fish_03"], (0.6, 0.8), (96, 128), 8
    rng = np.random.default_rng(0)
    truth = {}
    for k, s in enumerate(subjects):
        simulate_fish(SimConfig(n_neurons=120, n_frames=250), f"subject_{k + 1}", tmp_path / "sim" / s)
        fish = read_chen_fish(tmp_path / "sim" / s)
        own = fish.read_block(0, fish.n_neurons)  # the cells' own fluorescence, then ROIs that are no cells
        own = np.c_[own, rng.uniform(50, 150, (fish.n_frames, not_cells))].astype(np.float32)
        n = own.shape[1]
        neuropil = 40 + 15 * np.sin(np.arange(fish.n_frames)[:, None] / 7.0 + rng.uniform(0, 6, n))
        iscell = np.arange(n) < fish.n_neurons
        centres = np.c_[rng.uniform(3, shape[0] - 3, n), rng.uniform(3, shape[1] - 3, n)]
        folder = tmp_path / "suite2p" / s
        rc = write_suite2p(folder, own + 0.7 * neuropil, neuropil, centres, iscell, fish.fps, shape, seed=k)
        suite2p_to_nwb(folder, tmp_path / "nwb" / f"{s}.nwb", subject_id=s)
        truth[s] = (own[:, iscell], rc[iscell], np.flatnonzero(iscell), n)
    spikes = {
        **QUICK_SPIKES,
        "ground_truth_dir": str(simulated_ground_truth),
        "ground_truth_datasets": [SIMULATED_CASCADE],
    }
    config = {"dataset": "s2p", "source": "nwb", "raw_dir": str(tmp_path / "nwb"), "subjects": subjects}
    config.update(nwb={"grid_spacing_um": list(pixel_um)}, spikes=spikes)
    (tmp_path / "s2p.yaml").write_text(yaml.safe_dump(config))
    assert run_script("check_recordings", ["--config", tmp_path / "s2p.yaml"]) == 1  # pnm.behaviors: none here
    snakemake(
        "--configfile", tmp_path / "s2p.yaml", "--", *[f"results/s2p/probs/{s}.h5" for s in subjects], cwd=tmp_path
    )
    for s in subjects:
        own, rc, cells, n = truth[s]
        with (
            h5py.File(tmp_path / f"results/s2p/probs/{s}.h5") as p,
            h5py.File(tmp_path / f"results/s2p/dff/{s}.h5") as d,
        ):
            assert p.attrs["dropped_not_a_cell"] == not_cells and p.attrs["dropped_nonpositive_baseline"] == 0
            np.testing.assert_array_equal(p["cell_id"][()], cells)
            np.testing.assert_allclose(p["xyz"][()], np.c_[rc[:, 1] * 0.6, rc[:, 0] * 0.8, 0 * rc[:, 0]], atol=1e-3)
            assert p.attrs["recording_neuropil_coefficient"] == 0.7
            assert p.attrs["recording_neuropil_series"] == "ophys/Fluorescence/Neuropil"
            assert (p.attrs["recording_neurons_in_file"], p.attrs["recording_neurons_kept"]) == (n, len(cells))
            assert p.attrs["recording_neurons_kept_by"] == "the cells of column iscell"
            assert p.attrs["recording_activity_from"] == "ophys/Fluorescence/RoiResponseSeries"
            assert 0 <= p["prob"][()].min() and p["prob"][()].max() <= 1 and p["prob"].shape == (len(own), len(cells))
            # DF/F of the cells' own fluorescence: the neuropil's 0.7 came off before the baseline
            f0 = causal_baseline(own, int(d.attrs["baseline_window_frames"]), float(d.attrs["baseline_percentile"]))
            np.testing.assert_allclose(d["dff"][()], (own - f0) / f0, atol=2e-4)


@pytest.mark.parametrize(
    "files, message",
    [
        ({"subject_1.h5": "dff"}, r"no file \.h5/\.hdf5/\.npz for \['subject_2', 'subject_3'\]"),
        (
            {"subject_1.h5": "dff", "subject_2.h5": "activity", "subject_3.npz": "dff"},
            "must all be of kind activity or none",
        ),
        (
            {"subject_1.h5": "dff", "subject_1.npz": "dff", "subject_2.h5": "dff", "subject_3.h5": "dff"},
            "subject_1 has several files",
        ),
    ],
)
def test_a_folder_of_table_files_is_checked_before_anything_runs(tmp_path, files, message):
    for name, kind in files.items():
        write_fields(tmp_path / "mine" / name, good_fields(kind=kind))
    config = {
        "dataset": "mine",
        "source": "table",
        "raw_dir": str(tmp_path / "mine"),
        "subjects": ["subject_1", "subject_2", "subject_3"],
    }
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake("--configfile", tmp_path / "mine.yaml", "-n", cwd=tmp_path, check=False)
    assert proc.returncode != 0 and re.search(message, proc.stdout + proc.stderr), proc.stderr[-2000:]


def test_the_split_takes_the_labs_own_fish_names(tmp_path):
    """Any name the config's subjects accept is a name the split's lists accept."""
    names = ["fish_01", "zf-B2", "fish_10", "Larva3"]
    for name in names:
        write_fields(tmp_path / "mine" / f"{name}.h5", good_fields(T=60))
    config = {"dataset": "mine", "source": "table", "raw_dir": str(tmp_path / "mine"), "subjects": names}
    config["split"] = {"train": ["fish_01", "fish_10"], "val": ["zf-B2"], "heldout": ["Larva3"]}
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(config))
    parsed = parsed_commands(snakemake("--configfile", tmp_path / "mine.yaml", "-n", "-p", cwd=tmp_path).stdout)
    assert [p.stem for p in parsed["train_sbm"][0].train] == ["fish_01", "fish_10"]
    assert [p.stem for p in parsed["evaluate_next_step"][0].heldout] == ["Larva3"]


def test_a_truncated_table_file_stops_the_workflow_with_one_line_naming_it(tmp_path):
    for name in ("fish_a", "fish_b", "fish_c"):
        write_fields(tmp_path / "mine" / f"{name}.h5", good_fields(T=400, N=300))
    bad = tmp_path / "mine" / "fish_b.h5"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    config = {"dataset": "mine", "source": "table", "raw_dir": str(tmp_path / "mine"), "subjects": ["fish_a", "fish_b"]}
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake("--configfile", tmp_path / "mine.yaml", "-n", cwd=tmp_path, check=False)
    lines = [line for line in proc.stderr.splitlines() if "workflow specific profile" not in line]
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {bad}: cannot be read as a table file (truncated or damaged?)")


def test_table_and_nwb_sources_need_raw_dir_and_the_simulator_numbered_fish(tmp_path):
    proc = snakemake("-n", "--config", "source=nwb", cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "source nwb reads the fish's files from raw_dir" in proc.stdout + proc.stderr
    proc = snakemake("-n", "--config", "subjects=['fish_a']", cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert "source synthetic names its fish subject_<n>, not ['fish_a']" in proc.stdout + proc.stderr


def test_editing_code_reruns_the_rules_that_run_it(tmp_path):
    """Editing what a script, or a module of sbm/ it imports, does reruns the rules that run it
    (with what depends on their outputs), and a dry run names the edited file; an edit of comments
    or docstrings, or a file touched without a change, reruns nothing. On a copy of the
    repository, so that the edits touch nothing here."""
    repo = tmp_path / "repo"
    for name in ("workflow", "scripts", "sbm", "config", "profiles", "benchmarks"):
        shutil.copytree(REPO / name, repo / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "environment.yml", repo)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "synthetic": {"n_neurons": 60, "n_frames": 120}}))

    def run(*args):
        return snakemake("--configfile", config, *args, cwd=tmp_path, snakefile=repo / "workflow/Snakefile")

    run("--", "results/tiny/qc/dff_vs_truth.csv")
    target = ["-n", "--", "results/tiny/qc/dff_vs_truth.csv"]
    for edited, rules in (
        ("scripts/synthetic_qc.py", {"synthetic_qc"}),
        ("sbm/spikes/qc.py", {"synthetic_qc"}),
        ("sbm/io/atomic.py", {"simulate", "stimulus_vocabulary", "dff", "synthetic_qc"}),
    ):
        path = repo / edited
        original = path.read_text()
        try:
            os.utime(path)  # touched, not changed: nothing to do
            assert "Nothing to be done" in run(*target).stdout
            path.write_text("# a comment\n" + original.replace('"""', '"""An edited docstring. ', 1))
            assert "Nothing to be done" in run(*target).stdout, edited
            path.write_text(original + "\nEDITED = 1\n")
            proc = run(*target)
        finally:
            path.write_text(original)
        assert set(planned_jobs(proc.stdout)) == rules, edited
        assert "reason: Params have changed since last execution" in proc.stdout
        assert f"before: ('code', '{edited}'," in proc.stdout


def test_failing_job_reports_the_bad_file(tmp_path):
    raw = tmp_path / "raw" / "subject_1"
    simulate_fish(SimConfig(n_neurons=60, n_frames=100), "subject_1", raw)
    with h5py.File(raw / "TimeSeries.h5", "r+") as f:
        f["CellResp"][3, 4] = float("nan")
    args = [
        "--configfile",
        REPO / "config/chen2018.yaml",
        "--config",
        f"raw_dir={tmp_path / 'raw'}",
        "subjects=[subject_1]",
        "--",
        "results/chen2018/dff/subject_1.h5",
    ]
    proc = snakemake(*args, cwd=tmp_path, check=False)
    assert proc.returncode != 0
    # Run with -s from another folder, it still uses the workstation defaults (profiles/default).
    assert "workflow specific profile" in proc.stderr and "profiles/default" in proc.stderr
    # The run says what to do next: the failed job's log, and how to resume.
    assert "run the same command again to resume; each failed job's log is under logs/chen2018/" in proc.stderr
    log = (tmp_path / "logs/chen2018/dff/subject_1.log").read_text()
    assert "error: " in log and "TimeSeries.h5: CellResp has 1 non-finite values" in log
    assert not (tmp_path / "results/chen2018/dff/subject_1.h5").exists()


def test_a_dataset_without_behaviour_skips_the_behaviour_stages(tmp_path):
    jobs = planned_jobs(snakemake("-n", "--forceall", "--config", "pnm={'behaviors': []}", cwd=tmp_path).stdout)
    assert "train_pnm" not in jobs and "behavior_figures" not in jobs and jobs["evaluate_next_step"] == 1
    proc = snakemake("-n", "--config", "pnm={'behaviors': ['tail']}", cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "name none ([]: no behaviour stages) or at least 2" in proc.stdout + proc.stderr
