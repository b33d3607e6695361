"""The ``policy`` of an Images entry: how ``reconciler image-update`` picks its tag. Pure.

Flux's three policies, one per entry: ``semver`` (a range), ``numerical`` or ``alphabetical``
(an order), over the tags ``filterTags`` keeps; ``pinDigest`` writes the chosen tag's digest
beside it. A malformed range, pattern or extract is a ``file:line`` error of the entry.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from reconciler.core.image_policy import ImagePolicy, filter_problem, range_problem
from reconciler.spec.documents.base import SpecModel
from reconciler.spec.documents.messages import invalid


class FilterTags(SpecModel):
    """Which tags a policy considers, and which part of each it compares (Flux's filterTags)."""

    pattern: str = Field(
        description="A regular expression (Python's re, searched as Go's MatchString does); only the tags it "
        "matches are considered, e.g. '^main-[a-f0-9]+-(?P<ts>[0-9]+)$'."
    )
    extract: str | None = Field(
        None,
        description="What of the match is compared: a template naming the pattern's groups, $ts or ${ts} "
        "(named) or $1; default: the whole tag.",
    )


class ImagePolicySection(SpecModel):
    """How `reconciler image-update` chooses this entry's tag (exactly one of semver, numerical,
    alphabetical). It only ever moves forward, and never past a rollback commit that set the tag."""

    semver: str | None = Field(
        None,
        description="The highest version this range allows (npm's range grammar, as Flux's semver policy): "
        "'>=2.0.0 <3', '^2.1', '~1.4.0', '2.x || 3.1.x'. Tags are read as semver with an optional leading v "
        "and optional minor and patch (v2.1 is 2.1.0); pre-releases only when the range names one.",
    )
    numerical: Literal["asc", "desc"] | None = Field(
        None, description="Tags (or their extracted part) as numbers: asc takes the greatest, desc the smallest."
    )
    alphabetical: Literal["asc", "desc"] | None = Field(
        None, description="Tags (or their extracted part) as text: asc takes the last in order, desc the first."
    )
    filter_tags: FilterTags | None = Field(
        None, description="Only the tags matching pattern, compared by the part extract names."
    )
    pin_digest: bool = Field(
        default=False,
        description="Also write the chosen tag's digest in digest (the digest runs; the tag says which it was).",
    )

    @model_validator(mode="after")
    def _one_policy(self) -> ImagePolicySection:
        given = [n for n, v in (("semver", self.semver), ("numerical", self.numerical),
                                ("alphabetical", self.alphabetical)) if v is not None]  # fmt: skip
        if len(given) != 1:
            raise invalid(
                "policy",
                "give exactly one of semver (a range), numerical or alphabetical (asc or desc)"
                + (f", not {' and '.join(given)}" if given else ""),
            )
        if self.semver is not None and (problem := range_problem(self.semver)):
            raise invalid("policy", problem)
        if self.filter_tags is not None and (problem := filter_problem(self.filter_tags.pattern,
                                                                       self.filter_tags.extract)):  # fmt: skip
            raise invalid("policy", problem)
        return self

    def to_policy(self) -> ImagePolicy:
        filt = self.filter_tags
        if self.semver is not None:
            kind, order = "semver", "asc"
        elif self.numerical is not None:
            kind, order = "numerical", self.numerical
        else:
            kind, order = "alphabetical", self.alphabetical or "asc"
        return ImagePolicy(
            kind=kind,  # type: ignore[arg-type]
            semver_range=self.semver,
            order=order,  # type: ignore[arg-type]
            filter_pattern=filt.pattern if filt is not None else None,
            extract=filt.extract if filt is not None else None,
            pin_digest=self.pin_digest,
        )
