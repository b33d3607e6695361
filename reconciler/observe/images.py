"""Resolve the wanted image tags to the digests the registries serve now. Pure over a :class:`Resolver`.

The resolvers themselves (HTTP to an OCI registry, DescribeImages on ECR) are
drivers: :mod:`reconciler.drivers.registry`. :func:`resolve_digests` groups the
wanted :class:`~reconciler.core.model.ImageSpec` values by repository, asks each
repository's resolver once for all its tags (the repositories at once) and returns ``{ImageSpec.key:
digest}``; a ref pinned by digest maps to its own digest without a call, and a
tag that does not exist is simply absent (the planner reports it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from reconciler.core.model import ImageSpec

__all__ = ["Resolver", "resolve_digests"]


class Resolver(Protocol):
    def resolve(self, repository: str, tags: Sequence[str]) -> dict[str, str]:
        """Digest for each tag that exists; missing tags are absent."""
        ...


def resolve_digests(refs: Sequence[ImageSpec], resolver_for: Callable[[ImageSpec], Resolver]) -> dict[str, str]:
    """``{ImageSpec.key: digest}`` for every ref whose tag exists (pinned refs map to themselves)."""
    result: dict[str, str] = {}
    groups: dict[tuple[str, str], list[ImageSpec]] = {}
    for ref in refs:
        if ref.digest:
            result[ref.key] = ref.digest
        elif ref.tag:
            groups.setdefault((ref.registry, ref.repository), []).append(ref)
    def one(item: tuple[tuple[str, str], list[ImageSpec]]) -> dict[str, str]:
        (_, repository), members = item
        return resolver_for(members[0]).resolve(repository, [r.tag for r in members if r.tag])

    # repositories are independent: asked at once (the first error, in order, is raised)
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(groups)))) as pool:
        answers = list(pool.map(one, groups.items()))
    for members, digests in zip(groups.values(), answers, strict=True):
        for ref in members:
            if ref.tag in digests:
                result[ref.key] = digests[ref.tag]
    return result
