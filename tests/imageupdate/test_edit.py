"""reconciler.spec.yaml.edit: an Images entry's tag set in the text, byte for byte nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.spec.yaml.edit import EditError, EntryValue, entry_values, quick_entry_values, set_entries, set_entry

ROOT = Path(__file__).resolve().parents[2]
D1, D2 = "sha256:" + "d" * 64, "sha256:" + "e" * 64

BLOCK = f"""\
# images of dev
apiVersion: reconciler.dev/v1alpha1
kind: Images
metadata:
  name: popcon-images
spec:
  images:
    api:
      repository: x/api   # the api
      tag: v1           # current
    pinned:
      repository: x/pinned
      tag: '1.0'
      digest: "{D1}"
    web:
        image: ghcr.io/o/web:1.0@{D1}
    db:
      repository: x/db
      digest: {D1}
"""


def test_the_example_environments_change_only_the_tag() -> None:
    for env in ("dev", "prod"):
        text = (ROOT / "environments" / env / "images.yaml").read_text()
        new = set_entry(text, "backend", "2.3.0")
        old_line = next(line for line in text.splitlines(True) if line.startswith("    backend:"))
        assert new == text.replace(old_line, '    backend: {repository: popcon/backend, tag: "2.3.0"}\n')


@pytest.mark.parametrize(
    ("entry", "tag", "digest", "old", "new"),
    [
        ("api", "v2", None, "      tag: v1           # current\n", "      tag: v2           # current\n"),
        ("api", "1.10", None, "      tag: v1  ", '      tag: "1.10"  '),  # plain would read as a number
        (
            "api",
            "v2",
            D2,
            "      tag: v1           # current\n",
            f"      tag: v2           # current\n      digest: {D2}\n",
        ),
        ("pinned", "1.1", D2, f"      tag: '1.0'\n      digest: \"{D1}\"", f"      tag: '1.1'\n      digest: \"{D2}\""),
        ("web", "1.1", None, f"web:1.0@{D1}", "web:1.1"),
        ("web", "1.1", D2, f"web:1.0@{D1}", f"web:1.1@{D2}"),
        ("db", "10", None, f"      digest: {D1}\n", '      tag: "10"\n'),
    ],
)
def test_block_style_edits(entry: str, tag: str, digest: str | None, old: str, new: str) -> None:
    assert BLOCK.count(old) == 1
    assert set_entry(BLOCK, entry, tag, digest) == BLOCK.replace(old, new)


def test_flow_style_digest_is_inserted_after_the_tag_quoted_like_it() -> None:
    text = 'kind: Images\nspec:\n  images:\n    a: {repository: x/a, tag: "1.0"}  # keep\n'
    assert set_entry(text, "a", "1.1", D2) == (
        f'kind: Images\nspec:\n  images:\n    a: {{repository: x/a, tag: "1.1", digest: "{D2}"}}  # keep\n'
    )


def test_crlf_and_several_documents_are_kept() -> None:
    lines = ["kind: Environment", "---", "kind: Images", "spec:", "  images:", "    a:", "      repository: x/a"]
    text = "\r\n".join([*lines, "      tag: '1'", ""])
    new = set_entry(text, "a", "2", D2)
    assert new == text.replace("tag: '1'\r\n", f"tag: '2'\r\n      digest: '{D2}'\r\n")


def test_entry_values_and_refusals() -> None:
    values = entry_values(BLOCK)
    assert values["api"] == EntryValue("v1", None)
    assert values["web"] == EntryValue("1.0", D1) and values["db"] == EntryValue(None, D1)
    with pytest.raises(EditError, match="no Images entry named 'nope'"):
        set_entry(BLOCK, "nope", "1")
    with pytest.raises(EditError, match="pins a digest beside its tag"):
        set_entry(BLOCK, "pinned", "1.1")
    with pytest.raises(EditError, match="not valid YAML"):
        set_entry("kind: Images\nspec: {images: [\n", "a", "1")


def test_several_entries_at_once_and_the_fast_reader_agrees() -> None:
    new = set_entries(BLOCK, {"api": EntryValue("v3", None), "web": EntryValue("2.0", None)})
    assert new == BLOCK.replace("tag: v1 ", "tag: v3 ").replace(f"web:1.0@{D1}", "web:2.0")
    for text in (BLOCK, new, (ROOT / "environments" / "dev" / "images.yaml").read_text()):
        assert quick_entry_values(text) == entry_values(text)
    assert quick_entry_values("kind: Images\nspec: {images: [\n") == {}


def test_held_entries_the_last_change_of_each_entry_decides() -> None:
    from reconciler.app.imageupdate import held_entries
    from reconciler.drivers.git.commit import FileChange

    def text(api: str, web: str) -> bytes:
        return BLOCK.replace("tag: v1 ", f"tag: {api} ").replace("web:1.0", f"web:{web}").encode()

    history = [  # newest first
        FileChange("c3", "Set api to v4\n\nSet-Image: api v4\n", text("v4", "1.1"), text("v3", "1.1")),
        FileChange("c2", "Rollback x to c0: y\n\nRollback-To: c0\n", text("v3", "1.1"), text("v5", "1.2")),
        FileChange("c1", "bump\n", text("v5", "1.2"), None),
    ]
    assert held_entries(history, ["api", "web", "db"]) == {"web": "c2"}
    assert held_entries(history[1:], ["api", "web"]) == {"api": "c2", "web": "c2"}


TAGS = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")


def plain_reads_as_itself(tag: str) -> bool:
    return entry_values(f"kind: Images\nspec: {{images: {{a: {{tag: {tag}}}}}}}\n")["a"].tag == tag


@settings(max_examples=200, deadline=None)
@given(old=TAGS, new=TAGS, quote=st.sampled_from(['"', "'", ""]), flow=st.booleans())
def test_any_tag_changes_one_line_and_reads_back(old: str, new: str, quote: str, flow: bool) -> None:
    written = f'"{old}"' if not quote and not plain_reads_as_itself(old) else f"{quote}{old}{quote}"
    block = f"\n      repository: x/a\n      tag: {written}  # a"
    entry = f"{{repository: x/a, tag: {written}}}  # a" if flow else block
    text = f"# c\nkind: Images\nspec:\n  images:\n    a: {entry}\n    b: {{repository: x/b, tag: '1'}}\n"
    result = set_entry(text, "a", new)
    assert entry_values(result) == {"a": EntryValue(new, None), "b": EntryValue("1", None)}
    changed = [(x, y) for x, y in zip(text.splitlines(), result.splitlines(), strict=True) if x != y]
    assert len(changed) <= 1 and (changed or old == new)
