"""What the Snakemake workflow asks of the package: the config checked with one line per problem,
the source files a rule's script runs (so that editing them reruns the rule), and a job's command
line (its named files and settings under the names of its script's arguments, sbm.cli)."""

import ast
import functools
import json
import shlex
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def read_config(path: str | Path) -> dict:
    """A workflow config file with the schema's defaults filled in, as the workflow sees it (for
    scripts run beside the workflow: the benchmarks, the export of fish to other formats)."""
    from snakemake.utils import validate  # Snakemake's import takes a second: only for these scripts

    config = yaml.safe_load(Path(path).read_text()) or {}
    validate(config, str(SCHEMA))
    return config


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
    list gives nothing), dicts JSON, True a bare flag; False and None are left out."""
    parts = []
    for name, value in arguments.items():
        flag = "--" + name.replace("_", "-")
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
