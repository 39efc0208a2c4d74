"""JSON Schemas (draft 2020-12) of every message family, generated from the contract's
discriminated unions (shared/contracts/events.py):

    python -m shared.contracts.schemas [--out docs/schemas]

One file per family: `agency_event` (lt.in.agency.{A}.*), `postal_event` (lt.in.postal.*), `fact`
(lt.evt.*), `agency_outbound` (lt.out.agency.{A}.*), `postal_outbound` (lt.out.postal.*). Each is a
`oneOf` of typed envelopes discriminated by `type`, so integrators can validate a message with any
JSON Schema library before they publish it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from shared.contracts.events import UNIONS

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "docs" / "schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def schema_of(family: str) -> dict[str, Any]:
    schema = UNIONS[family].json_schema(ref_template="#/$defs/{model}")
    return {"$schema": DRAFT, "$id": f"urn:lienthong:{family}", "title": f"lienthong {family}", **schema}


def render(family: str) -> str:
    return json.dumps(schema_of(family), indent=2, ensure_ascii=False) + "\n"


def write_all(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for family in UNIONS:
        path = out / f"{family}.schema.json"
        path.write_text(render(family))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    for path in write_all(args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
