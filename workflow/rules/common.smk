# Helpers shared by the rules: config validation, paths, settings passed to the scripts.

import json
import os

from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml")

# Jobs import the sbm package of this checkout (also inside per-rule conda environments and on
# cluster nodes, which re-read this file), whether or not it was pip-installed.
REPO = os.path.abspath(os.path.join(workflow.basedir, ".."))
shell.prefix(f'export PYTHONPATH="{REPO}${{{{PYTHONPATH:+:$PYTHONPATH}}}}"; ')
ENV = "../../environment.yml"

DATASET = config["dataset"]
SUBJECTS = config["subjects"]
# Raw data in the Chen et al. 2018 layout: simulated or downloaded here, unless the user
# already has it (raw_dir), in which case nothing is downloaded.
RAW = config["raw_dir"] or f"resources/{DATASET}/raw"
RESULTS = f"results/{DATASET}"
LOGS = f"logs/{DATASET}"


wildcard_constraints:
    subject=r"subject_\d+",


def script(name):
    """Path of a script in scripts/, wherever Snakemake runs from."""
    return os.path.join(workflow.basedir, "..", "scripts", name)


def settings(section):
    """One config section as JSON, for a script's --settings argument (quoted with :q)."""
    return json.dumps(config[section])


def raw(name, subject="{subject}"):
    return f"{RAW}/{subject}/{name}"


def raw_folder(wildcards):
    return f"{RAW}/{wildcards.subject}"


def all_outputs():
    outputs = expand(f"{RESULTS}/dff/{{subject}}.h5", subject=SUBJECTS)
    if config["source"] == "synthetic":
        outputs.append(f"{RESULTS}/qc/dff_vs_truth.csv")
    return outputs


def subject_pattern(wildcards):
    # A function, so that Snakemake does not read the regex's {n} as a wildcard.
    return config["download"]["subject_pattern"]


def keep_archive_flag():
    return "--keep-archive" if config["download"]["keep_archives"] else ""
