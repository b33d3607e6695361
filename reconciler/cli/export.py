"""``reconciler export ENV_DIR --to kubernetes OUT_DIR``: write the manifests, the report and the exit code.

What cannot be translated is printed as ``file:line: services.<name>.<key>: why`` and the
command exits 1 without writing anything; with ``--partial`` the manifests are written
without those parts, ``EXPORT-REPORT.md`` lists them (and the notes), and the exit code is
still 1. Files this command wrote before and no longer produces are removed; nothing else in
OUT_DIR is touched.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reconciler.cli.arguments import overrides
from reconciler.cli.output import Err, write
from reconciler.core.exitcodes import EXIT_ERROR, EXIT_OK

__all__ = ["REPORT", "export"]

REPORT = "EXPORT-REPORT.md"


def _report(untranslated: list[str], notes: list[str]) -> str:
    lines = ["# Export to Kubernetes", ""]
    lines += ["## Not translated", ""] + [f"- {u}" for u in untranslated] + [""] if untranslated else []
    lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""] if notes else []
    if not untranslated and not notes:
        lines += ["Everything was translated.", ""]
    return "\n".join(lines)


def export(args: argparse.Namespace, err: Err) -> int:
    from reconciler.app.export import ExportOptions, export_environment
    from reconciler.export import HEADER
    from reconciler.export.model import DEFAULT_WAIT_IMAGE

    options = ExportOptions(
        out_dir=args.out_dir,
        replicas=args.replicas,
        repo_url=args.repo_url,
        repo_path=args.repo_path,
        revision=args.revision,
        wait_image=args.wait_image or DEFAULT_WAIT_IMAGE,
    )
    manifests = export_environment(args.env_dir, overrides(args), options)
    untranslated = [str(f) for f in manifests.untranslated]
    notes = list(manifests.notes)
    if untranslated and not args.partial:
        err.error(
            f"{len(untranslated)} part(s) of {args.env_dir} have no Kubernetes equivalent; nothing was written "
            "(--partial writes the rest and lists them in " + REPORT + "):\n  " + "\n  ".join(untranslated)
        )
        return EXIT_ERROR
    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    for old in sorted(out.rglob("*.yaml")):
        rel = old.relative_to(out).as_posix()
        if rel not in manifests.files and old.read_text(errors="replace").startswith(HEADER):
            old.unlink()
    for rel, text in manifests.files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (out / REPORT).write_text(_report(untranslated, notes), encoding="utf-8")
    write(f"wrote {len(manifests.files)} file(s) and {REPORT} to {out}\n")
    for note in notes:
        err.say(f"note: {note}")
    for item in untranslated:
        err.say(f"not translated: {item}")
    return EXIT_ERROR if untranslated else EXIT_OK
