"""Download CASCADE spike-inference ground truth (one folder of .mat files per dataset) from GitHub.

    python scripts/download_ground_truth.py --datasets DS06-GCaMP6f-zf-aDp DS07-GCaMP6f-zf-dD \\
        --out-dir resources/cascade/ground_truth --manifest resources/cascade/manifest.json

Each file is verified against its git blob SHA-1 from the GitHub contents API; a dataset folder
appears under --out-dir only when complete, and one that exists is not downloaded again. The
manifest (the rule's output) is written last, atomically, and lists every file with its SHA-1.
For a reproducible download give a commit SHA as --ref: a branch such as master can move.
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.cli import Command, arg, run
from sbm.io.atomic import write_json
from sbm.io.github import download_dataset, git_blob_sha1


@dataclass(kw_only=True)
class Args(Command):
    api_url: str = arg("GitHub's API", "https://api.github.com")
    repo: str = arg("owner/name", "HelmchenLabSoftware/Cascade")
    ref: str = arg("branch, tag or commit SHA", "master")
    path: str = arg("folder holding one folder per dataset", "Ground_truth")
    datasets: list[str] = arg("e.g. DS06-GCaMP6f-zf-aDp")
    out_dir: Path = arg("folder for the dataset folders")
    manifest: Path = arg("JSON written once all are verified")
    retries: int = arg("extra attempts per request", 5)
    backoff_s: float = arg("first wait between attempts, doubled each time", 1.0)


def main(args: Args) -> None:
    datasets = {}
    for dataset in dict.fromkeys(args.datasets):  # a name given twice is downloaded once
        paths = download_dataset(
            args.api_url,
            args.repo,
            args.ref,
            args.path,
            dataset,
            args.out_dir,
            retries=args.retries,
            backoff_s=args.backoff_s,
        )
        # SHA-1s are recomputed from the files, so a folder from an earlier run is listed too.
        datasets[dataset] = {
            "folder": str(args.out_dir / dataset),
            "files": [{"name": p.name, "sha": git_blob_sha1(p), "size": p.stat().st_size} for p in paths],
        }
        logging.info("%s: %d files", dataset, len(paths))
    write_json(
        args.manifest,
        {"repo": args.repo, "ref": args.ref, "path": args.path, "api_url": args.api_url, "datasets": datasets},
    )
    logging.info("%s: manifest of %d datasets written", args.manifest, len(datasets))


if __name__ == "__main__":
    sys.exit(run(main, Args))
