"""What the Snakemake workflow asks of the package: the config checked with one line per problem,
the source files a rule's script runs, what Snakemake records of a job (its settings and a digest
of its code, so that a change reruns it), and a job's command line (its named files and settings
under the names of its script's arguments, sbm.cli)."""

import ast
import functools
import hashlib
import json
import shlex
from dataclasses import MISSING, dataclass
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def read_config(*paths: str | Path) -> dict:
    """Workflow config files merged in order, as `snakemake --configfile a.yaml b.yaml` merges them,
    refused with one line per problem (the key and the file that set it), the schema's defaults
    filled in: for scripts run beside the workflow (the benchmarks, the export of fish to other
    formats, the check of a folder of recordings, the spike models' folder)."""
    from snakemake.utils import update_config, validate  # Snakemake's import takes a second

    from sbm.io.errors import InputError

    config, layers = {}, []
    for path in paths:
        try:
            layer = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise InputError(path, f"cannot be read as a YAML config: {err}") from err
        layers.append((str(path), layer))
        update_config(config, layer)
    problems = config_problems(config, yaml.safe_load(SCHEMA.read_text()), layers)
    if problems:
        raise InputError(paths[-1], "the config is not valid: " + "; ".join(problems))
    validate(config, str(SCHEMA))
    return config


# The keys of the `spikes` section that the spike models are trained with (the rest say which
# ground truth, and how the models are used): the spike_model rule passes these and no others.
SPIKE_MODEL_SETTINGS = ("method", "noise_bands", "training_noise_levels", "repeats", "resample_mode", "model")


def spike_model_settings(config: dict) -> dict:
    """The spike models' settings (each a Setting); the simulator's ground truth adds its number
    of fish."""
    keys = (*SPIKE_MODEL_SETTINGS, "calibration_fish") if config["source"] == "synthetic" else SPIKE_MODEL_SETTINGS
    return {k: config_setting(config, f"spikes.{k}") for k in keys}


def spike_model_dir(config: dict) -> str:
    """The folder of a config's spike models (one file per frame rate), shared by every dataset
    and rerun trained on the same ground truth with the same settings:
    resources/spike_models/<synthetic|cascade>-<digest>. The digest keys the ground truth by its
    content, never by where it lies: the simulator's settings; a download by its pinned repository,
    commit and datasets; a local folder (spikes.ground_truth_dir) by the git hashes of the files
    its datasets are read from. `python scripts/spike_model_dir.py --configfile ...` prints it."""
    s = config["spikes"]
    if config["source"] == "synthetic":
        source, truth = "synthetic", {"simulator": config["synthetic"]}
    elif s["ground_truth_dir"]:
        source, truth = "cascade", {"files": ground_truth_files(s["ground_truth_dir"], s["ground_truth_datasets"])}
    else:
        source = "cascade"
        truth = {
            k: s[k] for k in ("ground_truth_repo", "ground_truth_ref", "ground_truth_path", "ground_truth_datasets")
        }
    key = {"truth": truth, "dff": config["dff"], **plain(spike_model_settings(config))}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    return f"resources/spike_models/{source}-{digest}"


def ground_truth_files(folder: str | Path, datasets: list[str]) -> dict[str, dict[str, str]]:
    """{dataset: {file: git blob SHA-1}} of the files the ground truth is read from (each
    dataset's *_mini.mat, as sbm.spikes.ground_truth reads them): the same content gives the
    same hashes wherever it lies."""
    from sbm.io.github import git_blob_sha1

    files = {}
    for dataset in datasets:
        found = sorted((Path(folder) / dataset).glob("*_mini.mat"))
        if not found:
            raise FileNotFoundError(f"{Path(folder) / dataset}: no *_mini.mat ground-truth files")
        files[dataset] = {path.name: git_blob_sha1(path) for path in found}
    return files


def config_problems(config: dict, schema: dict, sources: list[tuple[str, dict]]) -> list[str]:
    """Every way `config` breaks `schema`, one line each, naming the key and where it was set.

    `sources` are the config layers in the order they were merged (a file name, or "--config",
    with what it holds); the last one holding a key is where that key came from."""
    lines = []
    for err in sorted(
        Draft202012Validator(schema).iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]
    ):
        path = [str(p) for p in err.absolute_path]
        if err.validator == "additionalProperties":
            known = sorted(err.schema.get("properties", {}))
            for name in sorted(set(err.instance) - set(known)):
                key = [*path, name]
                lines.append(
                    f"config key '{'.'.join(key)}' (from {origin(key, sources)}) is unknown; known here: "
                    f"{', '.join(known)}"
                )
            continue
        where = f"config key '{'.'.join(path)}' (from {origin(path, sources)})" if path else "the config"
        hint = ""
        if err.validator == "type" and isinstance(err.instance, str) and origin(path, sources) == "--config":
            hint = (
                " (values nested inside --config arrive as strings: put them in a YAML file and pass it with"
                " --configfile)"
            )
        lines.append(f"{where}: {err.message}{hint}")
    return lines


def origin(key: list[str], sources: list[tuple[str, dict]]) -> str:
    """The last config layer that sets `key` (a path of nested names; a list is set as a whole)."""
    found = "the schema's defaults"
    for name, values in sources:
        node = values
        for part in key:
            if isinstance(node, list):
                break  # an item of a list: the layer set the whole list
            node = {str(k): v for k, v in node.items()}.get(part, KeyError) if isinstance(node, dict) else KeyError
            if node is KeyError:
                break
        if node is not KeyError:
            found = name
    return found


def python_sources(script: str | Path, package: str | Path) -> list[str]:
    """`script` and every module of `package` (a folder, e.g. the repository's sbm/) that it
    imports, directly or through other modules of the package: the code a rule runs. Imports are
    read from the source (nothing is executed), including those inside functions."""
    package = Path(package).resolve()
    root, name = package.parent, package.name
    seen: set[Path] = set()
    todo = [Path(script).resolve()]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _imported_modules(path):
            if module != name and not module.startswith(name + "."):
                continue
            parts = module.split(".")
            # A module, a package (its __init__), and every package __init__ on the way: importing
            # sbm.io.chen runs sbm/__init__.py and sbm/io/__init__.py too.
            for i in range(1, len(parts) + 1):
                base = root.joinpath(*parts[:i])
                for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                    if candidate.exists():
                        todo.append(candidate)
    return sorted(str(p) for p in seen)


@functools.cache  # every rule asks, and the modules they share are read once per parse of the workflow
def code_digest(path: str | Path) -> str:
    """A digest of what a Python file does: its syntax tree without docstrings. Comments,
    docstrings and formatting leave it unchanged, so editing them reruns nothing; any other edit
    changes it. Empty and missing fields are left out, so Python versions that add fields to the
    tree (always empty in code written for older ones) give the same digest."""
    tree = ast.parse(Path(path).read_text(), filename=str(path))
    return hashlib.sha1(repr(_without_docstrings(tree)).encode()).hexdigest()[:12]


def _without_docstrings(node):
    """A nested tuple of a syntax tree's node types and fields, docstrings left out."""
    if isinstance(node, list):
        return tuple(_without_docstrings(item) for item in node)
    if not isinstance(node, ast.AST):
        return node
    fields = []
    for name, value in ast.iter_fields(node):
        if name == "body" and isinstance(node, DOCUMENTED) and value and _is_docstring(value[0]):
            value = value[1:]
        if value is None or (isinstance(value, list) and not value):
            continue
        fields.append((name, _without_docstrings(value)))
    return (type(node).__name__, tuple(fields))


DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


@dataclass(frozen=True)
class Setting:
    """A value of the config handed to a job, with its dotted path in the config (sbm.model): what
    Snakemake records of it is named by that path."""

    path: str
    value: object


def config_setting(config: dict, path: str, value=MISSING) -> Setting:
    """The config's value at `path` (dotted), or `value` in its place (the ablation's model)."""
    node = config
    for part in path.split("."):
        node = node[part]
    return Setting(path, node if value is MISSING else value)


def plain(value):
    """`value` with every Setting replaced by its value: what the script is given."""
    if isinstance(value, Setting):
        return plain(value.value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def settings_record(arguments: dict, untracked: tuple[str, ...] = ()) -> dict[str, tuple]:
    """What Snakemake records of a job's settings (`arguments` but those named in `untracked`), one
    entry per setting: {name: (name, value)}. A config setting is named by its path down to the
    leaf (sbm.model.d_model), anything else by its argument; a list is one setting. A changed entry
    reruns the job, and a dry run prints the entry before and now."""
    record = {}

    def visit(name, value):
        if isinstance(value, Setting):
            visit(value.path, value.value)
        elif isinstance(value, dict) and value:
            for key, item in value.items():
                visit(f"{name}.{key}", item)
        else:
            record[name] = (name, _hashable(plain(value)))

    for name, value in arguments.items():
        if name not in untracked:
            visit(name, value)
    return record


def _hashable(value):
    """Lists as tuples and dicts as sorted pairs: Snakemake records each entry by its repr."""
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def code_record(paths: list[str | Path], root: str | Path) -> dict[str, tuple]:
    """What Snakemake records of a job's code: {name: ("code", path under `root`, digest)} per file,
    Python by code_digest, any other file by its bytes. Paths are relative, so a project moved or
    copied elsewhere records the same."""
    record = {}
    for path in map(Path, paths):
        name = path.resolve().relative_to(Path(root).resolve()).as_posix()
        digest = code_digest(path) if path.suffix == ".py" else hashlib.sha1(path.read_bytes()).hexdigest()[:12]
        record[f"code {name}"] = ("code", name, digest)
    return record


@functools.cache  # every rule asks, and the modules they share are read once per parse of the workflow
def _imported_modules(path: Path) -> frozenset[str]:
    """Absolute module names a file imports (`import a.b`, `from a.b import c` gives a.b and a.b.c)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(modules)


def command_line(arguments: dict) -> str:
    """`--name value ...` for each item, quoted for the shell: lists give one value each (an empty
    list gives nothing), dicts JSON, True a bare flag; False and None are left out; a Setting
    gives its value."""
    parts = []
    for name, value in arguments.items():
        flag, value = "--" + name.replace("_", "-"), plain(value)
        if value is None or value is False or (isinstance(value, (list, tuple)) and not value):
            continue
        if value is True:
            parts.append(flag)
        elif isinstance(value, dict):
            parts.append(f"{flag} {shlex.quote(json.dumps(value))}")
        elif isinstance(value, (list, tuple)):
            parts.append(" ".join([flag, *(shlex.quote(str(v)) for v in value)]))
        else:
            parts.append(f"{flag} {shlex.quote(str(value))}")
    return " ".join(parts)
