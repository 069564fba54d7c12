"""Download CASCADE spike-inference ground truth (one folder of .mat files per dataset) from GitHub.

    python scripts/download_ground_truth.py --datasets DS06-GCaMP6f-zf-aDp DS07-GCaMP6f-zf-dD \\
        --out-dir resources/cascade/ground_truth --manifest resources/cascade/manifest.json

Each file is verified against its git blob SHA-1 from the GitHub contents API; a dataset folder
appears under --out-dir only when complete, and one that exists is not downloaded again. The
manifest (the rule's output) is written last, atomically, and lists every file with its SHA-1.
For a reproducible download give a commit SHA as --ref: a branch such as master can move.
"""

import argparse
import logging
import sys
from pathlib import Path

from sbm.cli import run
from sbm.io.atomic import write_json
from sbm.io.github import download_dataset, git_blob_sha1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", default="https://api.github.com")
    parser.add_argument("--repo", default="HelmchenLabSoftware/Cascade", help="owner/name")
    parser.add_argument("--ref", default="master", help="branch, tag or commit SHA")
    parser.add_argument("--path", default="Ground_truth", help="folder holding one folder per dataset")
    parser.add_argument("--datasets", nargs="+", required=True, help="e.g. DS06-GCaMP6f-zf-aDp")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--manifest", type=Path, required=True, help="JSON written once all are verified")
    parser.add_argument("--retries", type=int, default=5)
    parser.add_argument("--backoff-s", type=float, default=1.0)
    return parser


def _main(argv: list[str] | None) -> None:
    args = _parser().parse_args(argv)
    datasets = {}
    for dataset in dict.fromkeys(args.datasets):  # a name given twice is downloaded once
        paths = download_dataset(args.api_url, args.repo, args.ref, args.path, dataset, args.out_dir,
                                 retries=args.retries, backoff_s=args.backoff_s)
        # SHA-1s are recomputed from the files, so a folder from an earlier run is listed too.
        datasets[dataset] = {
            "folder": str(args.out_dir / dataset),
            "files": [{"name": p.name, "sha": git_blob_sha1(p), "size": p.stat().st_size} for p in paths],
        }
        logging.info("%s: %d files", dataset, len(paths))
    write_json(args.manifest, {"repo": args.repo, "ref": args.ref, "path": args.path,
                               "api_url": args.api_url, "datasets": datasets})
    logging.info("%s: manifest of %d datasets written", args.manifest, len(datasets))


def main(argv: list[str] | None = None) -> int:
    return run(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
