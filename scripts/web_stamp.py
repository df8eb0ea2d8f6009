#!/usr/bin/python3
"""Stamps the customer pages with the version of their assets.

web/assets/ (except brand/, which the agency edits and Apache serves with
revalidation) is served at /assets/v<hash>/..., cached for a year as
immutable; the hash is over the files' names and contents. After changing
anything under web/assets/, run this once: it rewrites the /assets/v.../
prefix in every web/*.html. `--check` only says whether the pages are
stamped with the current hash (the test suite runs it)."""

import hashlib
import re
import sys
from pathlib import Path

WEB = Path(__file__).resolve().parents[1] / "web"
PREFIX = re.compile(r"/assets/v[0-9a-f]+/")


def asset_version(web=WEB):
    digest = hashlib.sha256()
    assets = web / "assets"
    for path in sorted(p for p in assets.rglob("*") if p.is_file()):
        rel = path.relative_to(assets).as_posix()
        if rel.startswith("brand/"):
            continue
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return "v" + digest.hexdigest()[:12]


def main(argv):
    version = asset_version()
    stale = []
    for page in sorted(WEB.glob("*.html")):
        text = page.read_text()
        stamped = PREFIX.sub(f"/assets/{version}/", text)
        if stamped != text:
            stale.append(page.name)
            if "--check" not in argv:
                page.write_text(stamped)
    if "--check" in argv:
        if stale:
            print(f"not stamped with {version}: {', '.join(stale)} "
                  "(run scripts/web_stamp.py)")
            return 1
        return 0
    print(f"assets {version}; rewrote {len(stale)} page(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
