"""Generate the JSON Schemas and field tables of the spec kinds from the models. Pure apart from the CLI.

``python -m reconciler.spec.schema`` writes ``specs/<kind>.schema.json`` for
every kind (from :meth:`pydantic.BaseModel.model_json_schema`, by alias) and
rewrites the generated field tables inside ``specs/<kind>.md`` (between the
``BEGIN GENERATED FIELDS`` / ``END GENERATED FIELDS`` markers; the rest of
each page is written by hand). ``--check`` writes nothing and exits 1 when a
file is missing or stale, for CI. The functions that compute the texts are
pure; only :func:`main` touches files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from reconciler.spec.documents import KINDS

SPECS_DIR = Path(__file__).resolve().parents[2] / "specs"
BEGIN = "<!-- BEGIN GENERATED FIELDS (python -m reconciler.spec.schema) -->"
END = "<!-- END GENERATED FIELDS -->"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _NoFieldTitles(GenerateJsonSchema):
    """Keep model titles, drop the titles pydantic derives from field names ("Fromenv")."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def file_stem(kind: str) -> str:
    return kind.lower()


def kind_schema(kind: str) -> dict[str, Any]:
    schema = KINDS[kind].model_json_schema(by_alias=True, schema_generator=_NoFieldTitles)
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def schema_text(kind: str) -> str:
    return json.dumps(kind_schema(kind), indent=2, ensure_ascii=False) + "\n"


# ---- markdown field tables -------------------------------------------------------


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _type(prop: Mapping[str, Any]) -> str:
    if "$ref" in prop:
        name = _ref_name(prop["$ref"])
        return f"[{name}](#{name.lower()})"
    if "const" in prop:
        return f"`{prop['const']}`"
    if "enum" in prop:
        return " | ".join(f"`{v}`" for v in prop["enum"])
    if "anyOf" in prop:
        parts = [_type(p) for p in prop["anyOf"] if p.get("type") != "null"]
        return " or ".join(parts)
    kind = prop.get("type")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if kind == "object":
        extra = prop.get("additionalProperties")
        if isinstance(extra, dict):
            return f"map of string to {_type(extra)}"
        patterned = list(prop.get("patternProperties", {}).values())
        if patterned:
            return f"map of string to {_type(patterned[0])}"
        return "mapping"
    return str(kind or "any")


def _patterns(prop: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    if "pattern" in prop:
        found.append(prop["pattern"])
    for sub in prop.get("anyOf", []):
        found += _patterns(sub)
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _refs(schema: Mapping[str, Any]) -> list[str]:
    """Names of the $defs ``schema`` refers to, in order of appearance."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and _ref_name(ref) not in out:
                out.append(_ref_name(ref))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in schema.items() if k != "$defs"})
    return out


def _table(name: str, schema: Mapping[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [" ".join(str(schema["description"]).split()), ""]
    required = set(schema.get("required", []))
    props: Mapping[str, Any] = schema.get("properties", {})
    lines += ["| Field | Type | Required | Default | Description |", "|---|---|---|---|---|"]
    for field, prop in props.items():
        default = ""
        if "default" in prop and prop["default"] not in (None, [], {}):
            default = f"`{json.dumps(prop['default'])}`"
        description = prop.get("description", "")
        patterns = _patterns(prop)
        if patterns:
            description += f" Pattern: `{patterns[0]}`."
        lines.append(
            f"| `{field}` | {_cell(_type(prop))} | {'yes' if field in required else 'no'} | "
            f"{_cell(default)} | {_cell(description)} |"
        )
    return [*lines, ""]


def fields_markdown(kind: str) -> str:
    """The generated part of specs/<kind>.md: one table per object, the document first."""
    schema = kind_schema(kind)
    defs: Mapping[str, Any] = schema.get("$defs", {})
    order: list[str] = []
    queue = _refs(schema)
    while queue:
        name = queue.pop(0)
        if name in order or name not in defs:
            continue
        order.append(name)
        queue += _refs(defs[name])
    lines = _table(kind, schema)
    for name in order:
        lines += _table(name, defs[name])
    return "\n".join(lines).rstrip() + "\n"


def render_page(kind: str, page: str) -> str:
    """``page`` with its generated section replaced. Raises ValueError without markers."""
    start, end = page.find(BEGIN), page.find(END)
    if start < 0 or end < start:
        raise ValueError(f"missing the markers {BEGIN!r} ... {END!r}")
    return page[: start + len(BEGIN)] + "\n\n" + fields_markdown(kind) + "\n" + page[end:]


def expected_files(out_dir: Path) -> dict[Path, str]:
    """Every generated file and its expected content (pages: from their current hand-written parts)."""
    files: dict[Path, str] = {}
    for kind in KINDS:
        stem = file_stem(kind)
        files[out_dir / f"{stem}.schema.json"] = schema_text(kind)
        page = out_dir / f"{stem}.md"
        if page.is_file():
            try:
                files[page] = render_page(kind, page.read_text(encoding="utf-8"))
            except ValueError as error:
                raise ValueError(f"{page}: {error}") from None
    return files


def stale_files(out_dir: Path) -> list[Path]:
    stale = [
        path
        for path, text in expected_files(out_dir).items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]
    stale += [out_dir / f"{file_stem(k)}.md" for k in KINDS if not (out_dir / f"{file_stem(k)}.md").is_file()]
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reconciler.spec.schema",
        description="Write specs/<kind>.schema.json and the field tables of specs/<kind>.md.",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is stale")
    parser.add_argument("--out", type=Path, default=SPECS_DIR, help=f"output folder (default: {SPECS_DIR})")
    args = parser.parse_args(argv)
    out_dir: Path = args.out
    try:
        if args.check:
            stale = stale_files(out_dir)
            for path in stale:
                print(f"stale: {path} (run python -m reconciler.spec.schema)", file=sys.stderr)
            return 1 if stale else 0
        out_dir.mkdir(parents=True, exist_ok=True)
        for path, text in expected_files(out_dir).items():
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path}")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
