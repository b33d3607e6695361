"""One compose service as a Kubernetes container: image, command, environment, ports, volumes,
probes, resources. Pure.

``entrypoint`` becomes ``command`` and ``command`` becomes ``args`` (Kubernetes' names for
Docker's); the environment references the ConfigMap and Secret keys of the stack's variables
(:mod:`.values`), and a service's ``environmentFrom`` sets become ``envFrom``; a named volume
becomes a PersistentVolumeClaim of the same name, ``tmpfs`` an in-memory emptyDir; CPU and
memory limits and reservations become limits and requests.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.export.probes import probes
from reconciler.export.units import cpu_quantity, memory_quantity
from reconciler.export.values import ValueSource, substitute

__all__ = ["ContainerParts", "container"]


@dataclass
class ContainerParts:
    container: dict[str, object]
    volumes: list[dict[str, object]] = field(default_factory=list)  # the pod's volumes
    claims: list[str] = field(default_factory=list)  # named volumes (PersistentVolumeClaims)
    ports: list[dict[str, object]] = field(default_factory=list)  # the Service's ports
    published: list[str] = field(default_factory=list)  # host ports that were published
    problems: list[tuple[str, str]] = field(default_factory=list)  # (key, why)


def plain(value: object, variables: Mapping[str, ValueSource], key: str, parts: ContainerParts) -> object:
    """A compose value (outside the environment) with its variables written in."""
    if isinstance(value, str):
        text, problems = substitute(value, variables, in_env=False)
        parts.problems += [(key, p) for p in problems]
        return text
    if isinstance(value, list):
        return [plain(v, variables, key, parts) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v, variables, f"{key}.{k}", parts) for k, v in value.items()}
    return value


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else [value] if isinstance(value, str) else []


def _words(value: object) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value] if isinstance(value, list) else []


def _environment(raw: object) -> list[tuple[str, object]]:
    if isinstance(raw, Mapping):
        return [(str(k), v) for k, v in raw.items()]
    pairs: list[tuple[str, object]] = []
    for item in raw if isinstance(raw, list) else []:
        name, sep, value = str(item).partition("=")
        pairs.append((name, value if sep else None))
    return pairs


def _value_from(source: ValueSource) -> dict[str, object]:
    ref = "configMapKeyRef" if source.kind == "config" else "secretKeyRef"
    return {ref: {"name": source.name, "key": source.key}}


_WHOLE = re.compile(r"\$\{?([_A-Za-z][_A-Za-z0-9]*)\}?")


def _whole_reference(text: str) -> str | None:
    """``VAR`` when ``text`` is only ``${VAR}`` (or ``$VAR``)."""
    m = _WHOLE.fullmatch(text)
    return m.group(1) if m is not None and (text.startswith("${") == text.endswith("}")) else None


def environment(raw: object, variables: Mapping[str, ValueSource], parts: ContainerParts) -> list[dict[str, object]]:
    """The container's env: the variables its values read (from their ConfigMap or Secret) first,
    then the compose environment, ``${VAR}`` as Kubernetes' ``$(VAR)``."""
    refs: set[str] = set()
    entries: list[dict[str, object]] = []
    for name, value in _environment(raw):
        if value is None:
            parts.problems.append((f"environment.{name}", "a value taken from the host's environment"))
            continue
        text = value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
        whole = _whole_reference(text)
        source = variables.get(whole) if whole is not None else None
        if source is not None and source.kind != "plain":
            entries.append({"name": name, "valueFrom": _value_from(source)})
            continue
        written, problems = substitute(text, variables, in_env=True, refs=refs)
        parts.problems += [(f"environment.{name}", p) for p in problems]
        entries.append({"name": name, "value": written})
    own = {str(e["name"]) for e in entries if "valueFrom" in e}
    first: list[dict[str, object]] = [{"name": n, "valueFrom": _value_from(variables[n])} for n in sorted(refs - own)]
    return first + entries


def _ports(raw: Mapping[str, object], parts: ContainerParts) -> None:
    seen: set[tuple[int, str]] = set()
    declared: list[dict[str, object]] = []
    for entry in [*_list(raw.get("ports")), *_list(raw.get("expose"))]:
        if isinstance(entry, Mapping):
            target, protocol = entry.get("target"), str(entry.get("protocol", "tcp"))
            published = entry.get("published")
            host_ip = f"{entry['host_ip']}:" if entry.get("host_ip") else ""
            shown = f"{host_ip}{published}:{target}" + (f"/{protocol}" if protocol != "tcp" else "")
        else:
            shown = str(entry)
            text, _, protocol = str(entry).partition("/")
            protocol = protocol or "tcp"
            pieces = text.rsplit(":", 2)
            target = pieces[-1]
            published = pieces[-2] if len(pieces) > 1 else None
        if not str(target).isdigit():
            parts.problems.append(("ports", f"port {entry} (a range or unreadable) is not translated"))
            continue
        port = int(str(target))
        if published not in (None, ""):
            parts.published.append(shown)
        if (port, protocol) in seen:
            continue
        seen.add((port, protocol))
        name = f"{protocol[:1]}{port}" if protocol != "tcp" else f"p{port}"
        declared.append({"name": name, "containerPort": port, "protocol": protocol.upper()})
        parts.ports.append({"name": name, "port": port, "targetPort": port, "protocol": protocol.upper()})
    if declared:
        parts.container["ports"] = declared


def _volumes(raw: Mapping[str, object], parts: ContainerParts) -> None:
    mounts: list[dict[str, object]] = []
    for entry in _list(raw.get("volumes")):
        if isinstance(entry, Mapping):
            source, target = entry.get("source"), entry.get("target")
            read_only, kind = bool(entry.get("read_only", False)), str(entry.get("type", "volume"))
        else:
            bits = str(entry).split(":")
            source, target = (bits[0], bits[1]) if len(bits) > 1 else (None, bits[0])
            read_only, kind = len(bits) > 2 and "ro" in bits[2].split(","), "volume"
        if kind == "bind" or (isinstance(source, str) and source.startswith((".", "/", "~"))):
            continue  # reported by compose_keys
        name = str(source) if source else f"anonymous-{len(parts.volumes)}"
        volume: dict[str, object] = {"name": name}
        if kind == "tmpfs" or not source:
            volume["emptyDir"] = {"medium": "Memory"} if kind == "tmpfs" else {}
        else:
            volume["persistentVolumeClaim"] = {"claimName": name}
            parts.claims.append(name)
        parts.volumes.append(volume)
        mounts.append({"name": name, "mountPath": str(target), **({"readOnly": True} if read_only else {})})
    for i, path in enumerate(_list(raw.get("tmpfs"))):
        parts.volumes.append({"name": f"tmpfs-{i}", "emptyDir": {"medium": "Memory"}})
        mounts.append({"name": f"tmpfs-{i}", "mountPath": str(path).split(":")[0]})
    if mounts:
        parts.container["volumeMounts"] = mounts


def _resources(raw: Mapping[str, object]) -> dict[str, object]:
    deploy = raw.get("deploy") if isinstance(raw.get("deploy"), Mapping) else {}
    given = deploy.get("resources") if isinstance(deploy, Mapping) else None
    res: Mapping[str, object] = given if isinstance(given, Mapping) else {}
    out: dict[str, dict[str, str]] = {}
    for side, key, where in (("limits", "limits", res), ("requests", "reservations", res)):
        block = where.get(key)
        if isinstance(block, Mapping):
            for name, convert, compose in (("cpu", cpu_quantity, "cpus"), ("memory", memory_quantity, "memory")):
                if compose in block and (q := convert(block[compose])) is not None:
                    out.setdefault(side, {})[name] = q
    for side, name, convert, compose in (("limits", "memory", memory_quantity, "mem_limit"),
                                         ("requests", "memory", memory_quantity, "mem_reservation"),
                                         ("limits", "cpu", cpu_quantity, "cpus")):  # fmt: skip
        if compose in raw and (q := convert(raw[compose])) is not None:
            out.setdefault(side, {}).setdefault(name, q)
    return dict(out)


def container(
    name: str,
    raw: Mapping[str, object],
    image: str,
    variables: Mapping[str, ValueSource],
    env_from: list[dict[str, object]],
) -> ContainerParts:
    """The container of service ``name`` and what its pod and Service need."""
    parts = ContainerParts({"name": name, "image": image})
    shaped = plain({k: v for k, v in raw.items() if k != "environment"}, variables, "", parts)
    assert isinstance(shaped, dict)
    parts.problems = [(key.lstrip("."), why) for key, why in parts.problems]
    c = parts.container
    if "entrypoint" in shaped:
        c["command"] = _words(shaped["entrypoint"])
    if "command" in shaped:
        c["args"] = _words(shaped["command"])
    if "working_dir" in shaped:
        c["workingDir"] = str(shaped["working_dir"])
    env = environment(raw.get("environment"), variables, parts)
    if env:
        c["env"] = env
    if env_from:
        c["envFrom"] = env_from
    _ports(shaped, parts)
    c.update(probes(shaped.get("healthcheck")))
    resources = _resources(shaped)
    if resources:
        c["resources"] = resources
    _volumes(shaped, parts)
    security: dict[str, object] = {}
    if str(shaped.get("user", "")).isdigit():
        security["runAsUser"] = int(str(shaped["user"]))
    caps = {k: [str(x) for x in _list(shaped.get(f"cap_{k}"))] for k in ("add", "drop") if shaped.get(f"cap_{k}")}
    if caps:
        security["capabilities"] = caps
    if shaped.get("read_only") is True:
        security["readOnlyRootFilesystem"] = True
    if security:
        c["securityContext"] = security
    for flag, key in (("tty", "tty"), ("stdin_open", "stdin")):
        if shaped.get(flag) is True:
            c[key] = True
    return parts
