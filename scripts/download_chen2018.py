"""Download the Chen et al. 2018 zebrafish dataset (figshare article 7272617), subject by subject.

    python scripts/download_chen2018.py list --api-url https://api.figshare.com/v2 \\
        --article-id 7272617 --out resources/chen2018/listing.json
    python scripts/download_chen2018.py fetch --listing resources/chen2018/listing.json \\
        --subject subject_3 --pattern REGEX --raw-dir resources/chen2018/raw \\
        --download-dir resources/chen2018/archives
"""

import argparse
import json
import logging
import sys
from pathlib import Path

from sbm.cli import run
from sbm.io.atomic import write_json
from sbm.io.errors import InputError
from sbm.io.figshare import fetch_subject, list_article_files


def _read_listing(path: Path) -> list[dict]:
    try:
        listing = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise InputError(path, "listing file not found (run the `list` subcommand first)") from e
    except json.JSONDecodeError as e:
        raise InputError(path, f"not valid JSON ({e})") from e
    if not isinstance(listing, list) or not all(isinstance(f, dict) for f in listing):
        raise InputError(path, "expected a JSON list of file entries")
    return listing


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="write the article's file listing (names, sizes, MD5s) to JSON")
    p.add_argument("--api-url", required=True, help="e.g. https://api.figshare.com/v2")
    p.add_argument("--article-id", type=int, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--retries", type=int, default=5)
    p.add_argument("--backoff-s", type=float, default=1.0)

    p = sub.add_parser("fetch", help="download, verify and unpack one subject")
    p.add_argument("--listing", type=Path, required=True)
    p.add_argument("--subject", required=True, help="e.g. subject_3")
    p.add_argument("--pattern", required=True, help="file-name regex; {n} is the subject number")
    p.add_argument("--raw-dir", type=Path, required=True)
    p.add_argument("--download-dir", type=Path, required=True)
    p.add_argument("--keep-archive", action="store_true", help="keep the verified archive after unpacking")
    p.add_argument("--retries", type=int, default=5)
    p.add_argument("--backoff-s", type=float, default=1.0)
    return parser


def _main(argv: list[str] | None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "list":
        files = list_article_files(args.api_url, args.article_id, retries=args.retries, backoff_s=args.backoff_s)
        write_json(args.out, files)
        logging.info("%s: %d files listed", args.out, len(files))
    else:
        written = fetch_subject(
            _read_listing(args.listing), args.subject, args.pattern, args.raw_dir, args.download_dir,
            retries=args.retries, backoff_s=args.backoff_s, source=str(args.listing),
        )
        if not args.keep_archive:
            written[0].unlink()
            logging.info("%s: removed the verified archive %s (--keep-archive keeps it)", args.subject, written[0])
        logging.info("%s: wrote %s", args.subject, ", ".join(map(str, written[1:])))


def main(argv: list[str] | None = None) -> int:
    return run(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
