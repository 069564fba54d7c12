"""List the files of a figshare article (names, sizes, MD5s, download addresses) to JSON.

    python scripts/list_figshare.py --api-url https://api.figshare.com/v2 --article-id 7272617 \
        --out resources/chen2018/figshare_listing.json
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.cli import Command, arg, run
from sbm.io.atomic import write_json
from sbm.io.figshare import list_article_files


@dataclass(kw_only=True)
class Args(Command):
    api_url: str = arg("e.g. https://api.figshare.com/v2")
    article_id: int = arg("the article (Chen et al. 2018: 7272617)")
    retries: int = arg("extra attempts per request", 5)
    backoff_s: float = arg("first wait between attempts, doubled each time", 1.0)
    out: Path = arg("JSON: the listing")


def main(args: Args) -> None:
    files = list_article_files(args.api_url, args.article_id, retries=args.retries, backoff_s=args.backoff_s)
    write_json(args.out, files)
    logging.info("%s: %d files listed", args.out, len(files))


if __name__ == "__main__":
    sys.exit(run(main, Args))
