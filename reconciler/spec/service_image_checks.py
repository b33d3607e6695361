"""Check that every service of a stack's compose file names the image it runs. Pure.

The reconciler deploys images: it pins a service's image by digest (the Images entry the stack
gives it in ``spec.services.<name>.image``, whose repository the compose file's ``image:``
names) or runs the compose file's own ``image:`` string; it never builds one. A service with a
``build:`` and no ``image:`` would be built by Compose from whatever the context holds, under a
config hash that does not see that context: :func:`build_only_service_issues` refuses it at the
compose file's line, saying which ``image:`` to add. A service with both is accepted as before
(with an Images entry, its image is pulled by digest before ``up``).
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.core.errors import SpecIssue
from reconciler.spec.checks import Declared
from reconciler.spec.compose_model import ComposeService
from reconciler.spec.documents import ImageEntry
from reconciler.spec.stack_checks import ComposeKey, ComposeRead, stack_compose_models


def build_only_service_issues(found: Declared, composed: Mapping[ComposeKey, ComposeRead]) -> list[SpecIssue]:
    """Each service with ``build:`` and no ``image:`` in a stack's compose file, per stack."""
    models = stack_compose_models(found, composed)
    entries = {name: entry for doc in found.images.values() for name, entry in doc.spec.images.items()}
    return [
        SpecIssue(
            service.display or model.display,
            service.line,
            f"services.{service.name}",
            _message(stack_name, service, _entry_of(found, stack_name, service.name, entries)),
        )
        for stack_name, model in models.items()
        for service in model.services.values()
        if service.raw.get("build") is not None and not service.raw.get("image") and not service.profiles
    ]


def _entry_of(
    found: Declared, stack_name: str, service: str, entries: Mapping[str, ImageEntry]
) -> tuple[str, ImageEntry] | None:
    """The Images entry the stack gives ``service`` (its name and itself), if there is one."""
    settings = found.stacks[stack_name].spec.services.get(service)
    if settings is None or settings.image is None or settings.image not in entries:
        return None
    return settings.image, entries[settings.image]


def _message(stack_name: str, service: ComposeService, entry: tuple[str, ImageEntry] | None) -> str:
    head = f"service '{service.name}' has build: but no image:; the reconciler deploys images and never builds them: "
    if entry is not None:
        entry_name, image = entry
        ref = image.reference()
        repository = ref.name if ref is not None else image.repository
        return head + (
            f"add image: {repository}, the repository of Images entry '{entry_name}' that stack "
            f"'{stack_name}' runs this service with (spec.services.{service.name}.image), and push what you "
            "build there"
        )
    return head + (
        "add an image: naming the repository of an Images entry (image: <repository>:<tag>) and give the "
        f"service that entry in stack '{stack_name}' (spec.services.{service.name}.image: <entry>)"
    )
