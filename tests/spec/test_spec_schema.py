"""The generated JSON Schemas and reference pages are up to date and agree with the models."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from spec_helpers import VALID

from reconciler.spec import schema
from reconciler.spec.documents import KINDS
from reconciler.spec.source import read_yaml

SPECS = schema.SPECS_DIR


def test_specs_are_up_to_date() -> None:
    stale = schema.stale_files(SPECS)
    assert not stale, f"run python -m reconciler.spec.schema; stale: {stale}"
    assert schema.main(["--check"]) == 0


def test_check_fails_when_a_schema_is_stale(tmp_path: Path) -> None:
    out = tmp_path / "specs"
    shutil.copytree(SPECS, out)
    path = out / "parameterset.schema.json"
    data = json.loads(path.read_text())
    data["$defs"]["ParameterEntry"]["properties"]["fromEnv"]["description"] = "old text"
    path.write_text(json.dumps(data, indent=2) + "\n")
    assert schema.main(["--check", "--out", str(out)]) == 1
    assert schema.main(["--out", str(out)]) == 0
    assert schema.main(["--check", "--out", str(out)]) == 0
    assert path.read_text() == (SPECS / "parameterset.schema.json").read_text()


def test_check_fails_when_a_field_table_is_stale_or_missing(tmp_path: Path) -> None:
    out = tmp_path / "specs"
    shutil.copytree(SPECS, out)
    page = out / "images.md"
    page.write_text(page.read_text().replace("| `digest` |", "| `digests` |"))
    assert schema.main(["--check", "--out", str(out)]) == 1
    schema.main(["--out", str(out)])
    assert page.read_text() == (SPECS / "images.md").read_text()
    (out / "composestack.md").unlink()
    assert schema.main(["--check", "--out", str(out)]) == 1


def test_page_without_markers_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "specs"
    shutil.copytree(SPECS, out)
    (out / "environment.md").write_text("# Environment\n")
    assert schema.main(["--out", str(out)]) == 1


def test_every_field_has_a_description() -> None:
    for kind in KINDS:
        data = schema.kind_schema(kind)
        objects = [data, *data.get("$defs", {}).values()]
        for obj in objects:
            for name, prop in obj.get("properties", {}).items():
                assert prop.get("description"), f"{kind}: {obj.get('title')}.{name} has no description"


def test_index_links_every_kind() -> None:
    index = (SPECS / "README.md").read_text()
    for kind in KINDS:
        stem = schema.file_stem(kind)
        assert f"({stem}.md)" in index and f"({stem}.schema.json)" in index


def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((SPECS / f"{schema.file_stem(kind)}.schema.json").read_text()))


def test_valid_environment_matches_the_json_schemas() -> None:
    for path in sorted(VALID.glob("*.yaml")):
        for doc in read_yaml(path, path.name):
            assert isinstance(doc.data, dict)
            errors = list(_validator(str(doc.data["kind"])).iter_errors(doc.data))
            assert not errors, f"{path.name}: {errors[0].message}"


def test_json_schema_rejects_what_the_models_reject() -> None:
    doc: dict[str, Any] = {
        "apiVersion": "reconciler.dev/v1alpha1",
        "kind": "Images",
        "metadata": {"name": "x"},
        "spec": {"images": {"a": {"repository": "a", "tag": "1", "unknown": 1}}},
    }
    assert list(_validator("Images").iter_errors(doc))


def _examples() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for page in sorted(SPECS.glob("*.md")):
        for block in re.findall(r"```yaml\n(.*?)```", page.read_text(), flags=re.S):
            if "apiVersion:" in block:
                found.append((page.name, block))
    return found


@pytest.mark.parametrize(("page", "block"), _examples())
def test_examples_in_the_pages_are_valid(page: str, block: str, tmp_path: Path) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(block)
    for doc in read_yaml(path, page):
        assert isinstance(doc.data, dict)
        KINDS[str(doc.data["kind"])].model_validate(doc.data)
        assert not list(_validator(str(doc.data["kind"])).iter_errors(doc.data))
