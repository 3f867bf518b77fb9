"""Write the dashboards' JSON to dashboards/json/, or with --check fail when the files are stale."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as `python dashboards/generate.py`: make `dashboards` importable from the repo root.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboards import usage_store
from dashboards.catalog import DASHBOARDS
from dashboards.render import to_json

JSON_DIR = Path(__file__).resolve().parent / "json"
# Dashboards on the PostgreSQL usage store (SQL, not PromQL): beside, for Grafanas that have that store.
POSTGRES_JSON = JSON_DIR / "postgres" / f"{usage_store.UID}.json"


def rendered() -> dict[Path, str]:
    """Each dashboard's file and the JSON the code generates for it."""
    out = {JSON_DIR / f"{board.uid}.json": to_json(board) for board in DASHBOARDS}
    out[POSTGRES_JSON] = usage_store.to_json()
    return out


def stale_files() -> list[Path]:
    """Files that differ from the generated JSON, are missing, or belong to no dashboard."""
    expected = rendered()
    stale = [path for path, text in expected.items() if not path.is_file() or path.read_text() != text]
    stale += [path for path in sorted(JSON_DIR.glob("*.json")) if path not in expected]
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed JSON is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path} (run python dashboards/generate.py)", file=sys.stderr)
        return 1 if stale else 0
    POSTGRES_JSON.parent.mkdir(parents=True, exist_ok=True)
    expected = rendered()
    for path in sorted(JSON_DIR.glob("*.json")):
        if path not in expected:
            path.unlink()
    for path, text in expected.items():
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
