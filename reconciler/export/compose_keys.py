"""Which compose service keys the export translates, which it only notes, and which have no
Kubernetes equivalent. Pure.

:func:`untranslatable` returns, for one service mapping, the keys and values that cannot be
translated (host networking, ``privileged``, a bind mount of a host path, ``build``, host
devices, ...) with why; every key the export does not know is one of them too, so nothing is
dropped silently. :func:`noted` says what is translated with a change of meaning.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["TRANSLATED", "noted", "untranslatable"]

TRANSLATED = frozenset({
    "image", "command", "entrypoint", "environment", "ports", "expose", "healthcheck", "depends_on",
    "volumes", "tmpfs", "restart", "deploy", "mem_limit", "mem_reservation", "cpus", "working_dir", "user",
    "networks", "stop_grace_period", "cap_add", "cap_drop", "extra_hosts", "labels", "container_name",
    "hostname", "tty", "stdin_open", "read_only", "init", "logging", "scale", "profiles", "links",
})  # fmt: skip

_WHY = {
    "build": "the image is built on the host; in Kubernetes CI must build and push it (keep image:, drop build:)",
    "env_file": "the file is read on the host; put its values in a ParameterSet",
    "devices": "host devices have no Kubernetes equivalent without a device plugin",
    "volumes_from": "sharing another container's volumes has no Kubernetes equivalent across pods",
    "secrets": "compose secrets are files on the host; use a ParameterSet (SecureString or fromSecretsManager)",
    "configs": "compose configs are files on the host; use a ParameterSet or a ConfigMap",
    "ulimits": "Kubernetes has no per-container ulimits",
    "security_opt": "security options are node-specific (use a securityContext by hand)",
    "userns_mode": "user namespaces are set by the node",
    "cgroup_parent": "cgroups are managed by the kubelet",
    "sysctls": "sysctls need the node's allow-list (pod securityContext.sysctls by hand)",
    "gpus": "GPUs need a device plugin and resource requests",
    "runtime": "the container runtime is chosen by a RuntimeClass",
    "shm_size": "a bigger /dev/shm needs an emptyDir of medium Memory mounted by hand",
    "external_links": "links to containers outside the project have no equivalent",
}


def _host_network(value: object) -> str | None:
    mode = str(value)
    if mode == "host":
        return "host networking: the pod would share the node's network (hostNetwork is not translated)"
    if mode == "none":
        return "a container without a network has no Kubernetes equivalent"
    if mode.startswith(("service:", "container:")):
        return f"sharing the network of {mode} needs both containers in one pod"
    return None


def _bind_mounts(value: object) -> list[str]:
    found: list[str] = []
    for entry in value if isinstance(value, list) else []:
        if isinstance(entry, str):
            source = entry.split(":", 1)[0] if ":" in entry else ""
            if source.startswith((".", "/", "~")):
                found.append(f"bind mount of the host path {source}: no Kubernetes equivalent (use a volume)")
        elif isinstance(entry, Mapping) and entry.get("type") == "bind":
            found.append(f"bind mount of the host path {entry.get('source')}: no Kubernetes equivalent (use a volume)")
    return found


def untranslatable(raw: Mapping[str, object]) -> list[tuple[str, str]]:
    """(key, why) for each part of the service that has no Kubernetes translation."""
    found: list[tuple[str, str]] = []
    for key in sorted(str(k) for k in raw):
        value = raw[key]
        if key.startswith("x-"):
            continue
        if key == "privileged":
            if value is True:
                found.append((key, "a privileged container has no place in a restricted cluster (not translated)"))
        elif key == "network_mode":
            why = _host_network(value)
            if why:
                found.append((key, why))
        elif key in ("pid", "ipc"):
            if str(value) == "host":
                found.append((key, f"sharing the host's {key} namespace is not translated"))
        elif key == "volumes":
            found += [(key, why) for why in _bind_mounts(value)]
        elif key in _WHY:
            found.append((key, _WHY[key]))
        elif key not in TRANSLATED:
            found.append((key, "no Kubernetes translation"))
    depends = raw.get("depends_on")
    if isinstance(depends, Mapping):
        for name, spec in depends.items():
            if isinstance(spec, Mapping) and spec.get("condition") == "service_completed_successfully":
                found.append(("depends_on", f"waiting for {name} to complete needs a Job, not a Deployment"))
    return found


def noted(service: str, raw: Mapping[str, object]) -> list[str]:
    """What is translated with a change of meaning, as sentences naming the service."""
    notes: list[str] = []
    restart = str(raw.get("restart", "no"))
    if restart not in ("always", "unless-stopped"):
        notes.append(f"{service}: restart: {restart} becomes a Deployment's restartPolicy Always")
    if "container_name" in raw:
        notes.append(f"{service}: container_name is not kept (Kubernetes names the pods)")
    if "logging" in raw:
        notes.append(f"{service}: logging is left to the cluster (containers log to stdout)")
    if "links" in raw:
        notes.append(f"{service}: links are not needed (Services are reached by name)")
    return notes
