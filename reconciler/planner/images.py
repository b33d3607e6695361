"""The planner's image part: resolve tags to digests, decide pulls. Pure.

A tag is resolved with the digest the registry serves now (observed); a
digest pinned in the spec needs no lookup. A tag the registry does not have
is a :class:`Problem`, and the stacks that use it are not planned. Pinned
references missing from the local engine become :class:`PullImage` actions,
one per distinct reference per stack. No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reconciler.core.actions import Action, Change, PullImage
from reconciler.core.model import DesiredState, ImageSpec
from reconciler.core.observed import ObservedState
from reconciler.core.plan import Problem, Unchanged
from reconciler.planner.common import Draft, image_address, short, stack_image_address


def resolve(ref: ImageSpec, observed: ObservedState) -> str | None:
    """The digest ``ref`` runs: pinned in the spec, or what the registry serves for its tag."""
    return ref.digest or observed.image_digests.get(ref.key)


def missing_message(ref: ImageSpec) -> str:
    if ref.digest:  # pragma: no cover - a pinned digest always resolves
        return f"digest {ref.digest} of {ref.registry}/{ref.repository} not found in the registry"
    return f"tag {ref.tag} of {ref.registry}/{ref.repository} not found in the registry"


def all_refs(desired: DesiredState) -> dict[str, ImageSpec]:
    """Every image by Images entry name: the declared ones and those the services use."""
    refs: dict[str, ImageSpec] = {}
    for ref in desired.images:
        refs.setdefault(ref.name, ref)
    for stack in desired.stacks:
        for service in stack.services:
            if service.image is not None:
                refs.setdefault(service.image.name, service.image)
    return refs


def plan_images(
    desired: DesiredState, observed: ObservedState, blocked: Mapping[str, Iterable[str]]
) -> Draft:
    """Resolution of every image: Unchanged when it resolves, Problem when not.

    ``blocked`` maps an image name to the stacks left unplanned because of it.
    """
    unchanged: list[Unchanged] = []
    problems: list[Problem] = []
    refs = all_refs(desired)
    for name in sorted(refs):
        ref = refs[name]
        digest = resolve(ref, observed)
        if digest is None:
            stacks = sorted(set(blocked.get(name, ())))
            suffix = ""
            if stacks:
                label = "stack" if len(stacks) == 1 else "stacks"
                suffix = f"; {label} {', '.join(stacks)} not planned"
            problems.append(Problem(image_address(name), missing_message(ref) + suffix))
        elif ref.digest:
            unchanged.append(Unchanged(image_address(name), f"pinned to {short(digest)}"))
        else:
            unchanged.append(Unchanged(image_address(name), f"tag {ref.tag} resolves to {short(digest)}"))
    return Draft(unchanged=tuple(unchanged), problems=tuple(problems))


def plan_pulls(
    host: str, stack: str, refs: Iterable[ImageSpec], local_images: frozenset[str], digests: Mapping[str, str]
) -> Draft:
    """PullImage for each distinct pinned reference of ``stack`` not in ``host``'s engine.

    ``digests`` maps image name -> resolved digest (all resolved: the caller
    does not plan a stack with a missing image).
    """
    actions: list[Action] = []
    unchanged: list[Unchanged] = []
    pinned: dict[str, ImageSpec] = {}
    for ref in sorted(refs, key=lambda r: r.name):
        pinned.setdefault(ref.pinned(digests[ref.name]), ref)
    for reference, ref in sorted(pinned.items(), key=lambda item: item[1].name):
        address = stack_image_address(host, stack, ref.name)
        if reference in local_images:
            unchanged.append(Unchanged(address, f"{short(digests[ref.name])} present in the engine"))
            continue
        after: dict[str, object] = {"reference": reference}
        if ref.tag:
            after["tag"] = ref.tag
        actions.append(
            PullImage(
                change=Change(address, None, after),
                reason=f"{short(digests[ref.name])} not in the engine",
                host=host,
                stack=stack,
                reference=reference,
                registry=ref.registry,
            )
        )
    return Draft(actions=tuple(actions), unchanged=tuple(unchanged))
