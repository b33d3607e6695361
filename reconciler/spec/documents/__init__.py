"""Pydantic models of the spec documents in environments/<env>/*.yaml. Pure.

Four kinds, each a Kubernetes-style document ``{apiVersion, kind, metadata,
spec}``, one module each: :class:`Environment`, :class:`ParameterSet`, :class:`Images`
and :class:`ComposeStack`; the pieces they share are the document base
(:mod:`.base`), the constrained strings (:mod:`.field_types`), the SSM name rules
(:mod:`.ssm_names`), the registry section (:mod:`.registry`) and the wording of
errors (:mod:`.messages`). The models check everything one document can check
on its own (field names and types, name formats, SSM path rules, the
SecureString rule, tag/digest grammar); rules that need several documents
(references, duplicates across files, the compose file) live in
:mod:`reconciler.spec.checks` and :mod:`reconciler.spec.stack_checks`. Field descriptions feed the JSON
Schemas and the reference pages under ``specs/``. Validation is strict: a YAML number or
boolean is not silently turned into a string (``tag: 1.10`` would become
``1.1``), so such values must be quoted. This package re-exports what callers use.
"""

from __future__ import annotations

from reconciler.spec.documents.base import API_VERSION, Document, Metadata, SpecModel
from reconciler.spec.documents.compose_stack import ComposeStack, ComposeStackSection, StackService
from reconciler.spec.documents.environment import (
    AwsSection,
    DockerSection,
    Environment,
    EnvironmentSection,
    HostEntry,
    StateStoreSection,
    TlsSection,
    environment_hosts,
)
from reconciler.spec.documents.field_types import ENV_NAME_RE
from reconciler.spec.documents.image_policy import FilterTags, ImagePolicySection
from reconciler.spec.documents.images import ImageEntry, Images, ImagesSection
from reconciler.spec.documents.messages import EMPTY_VALUE, describe_value, empty_value_message, quote_hint
from reconciler.spec.documents.parameter_set import ParameterEntry, ParameterSet, ParameterSetSection, ParamType
from reconciler.spec.documents.registry import RegistrySection, RegistryType
from reconciler.spec.documents.ssm_names import (
    MAX_LEVELS,
    MAX_NAME_LENGTH,
    MAX_VALUE_BYTES,
    ssm_name_problem,
    ssm_path_problem,
)

KINDS: dict[str, type[Document]] = {
    "Environment": Environment,
    "ParameterSet": ParameterSet,
    "Images": Images,
    "ComposeStack": ComposeStack,
}

__all__ = [
    "API_VERSION",
    "EMPTY_VALUE",
    "ENV_NAME_RE",
    "KINDS",
    "MAX_LEVELS",
    "MAX_NAME_LENGTH",
    "MAX_VALUE_BYTES",
    "AwsSection",
    "ComposeStack",
    "ComposeStackSection",
    "DockerSection",
    "Document",
    "Environment",
    "EnvironmentSection",
    "FilterTags",
    "HostEntry",
    "ImageEntry",
    "ImagePolicySection",
    "Images",
    "ImagesSection",
    "Metadata",
    "ParamType",
    "ParameterEntry",
    "ParameterSet",
    "ParameterSetSection",
    "RegistrySection",
    "RegistryType",
    "SpecModel",
    "StackService",
    "StateStoreSection",
    "TlsSection",
    "describe_value",
    "empty_value_message",
    "environment_hosts",
    "quote_hint",
    "ssm_name_problem",
    "ssm_path_problem",
]
