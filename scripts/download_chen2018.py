"""Download one fish of the Chen et al. 2018 dataset (figshare article 7272617): fetch its archive
with resume and retries, check its MD5, unpack TimeSeries.h5 and data_full.mat.

    python scripts/download_chen2018.py --listing resources/chen2018/figshare_listing.json --subject subject_3 \
        --pattern REGEX --timeseries resources/chen2018/raw/subject_3/TimeSeries.h5 \
        --data-full resources/chen2018/raw/subject_3/data_full.mat --download-dir resources/chen2018/archives
"""

import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.cli import Command, arg, run
from sbm.io.chen import chen_folder
from sbm.io.errors import InputError
from sbm.io.figshare import fetch_subject


@dataclass(kw_only=True)
class Args(Command):
    listing: Path = arg("the article's listing (list_figshare.py)")
    subject: str = arg("e.g. subject_3")
    pattern: str = arg("file-name regex of the subject's archive; {n} is the subject number")
    timeseries: Path = arg("TimeSeries.h5 to write, in the subject's raw folder")
    data_full: Path = arg("data_full.mat to write, beside it")
    download_dir: Path = arg("folder for the archives")
    keep_archive: bool = arg("keep the verified archive after unpacking", False)
    retries: int = arg("extra attempts per request", 5)
    backoff_s: float = arg("first wait between attempts, doubled each time", 1.0)


def read_listing(path: Path) -> list[dict]:
    try:
        listing = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise InputError(path, "listing file not found (run list_figshare.py first)") from e
    except json.JSONDecodeError as e:
        raise InputError(path, f"not valid JSON ({e})") from e
    if not isinstance(listing, list) or not all(isinstance(f, dict) for f in listing):
        raise InputError(path, "expected a JSON list of file entries")
    return listing


def main(args: Args) -> None:
    folder = chen_folder(args.timeseries, args.data_full)
    if folder.name != args.subject:
        raise InputError(args.timeseries, f"the raw files of {args.subject} go in a folder named {args.subject}")
    written = fetch_subject(
        read_listing(args.listing),
        args.subject,
        args.pattern,
        folder.parent,
        args.download_dir,
        retries=args.retries,
        backoff_s=args.backoff_s,
        source=str(args.listing),
    )
    if not args.keep_archive:
        written[0].unlink()
        logging.info("%s: removed the verified archive %s (--keep-archive keeps it)", args.subject, written[0])
    logging.info("%s: wrote %s", args.subject, ", ".join(map(str, written[1:])))


if __name__ == "__main__":
    sys.exit(run(main, Args))
