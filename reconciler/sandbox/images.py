"""Demo images of the sandbox, built in memory. Pure but for reading their inputs (busybox, demo files).

The images stand in for pop-con's frontend, backend, mysql and redis. Each is
two layers shared by all of them -- a root filesystem made of the host's
static busybox (plus applet symlinks) and the demo app files from
``reconciler/sandbox/demo/`` -- and a config whose ``Env`` names the app, its
version and its port. The tag ``broken`` of each repository has a third layer
whose entry point answers 500 on ``GET /health`` (busybox's httpd cannot:
``nc -ll`` runs a small script per connection), so that a failing rollout can
be shown and tested. No engine and no internet are needed: the layers are
deterministic tars (fixed owners and mtimes, gzip without timestamp), so the
same version always has the same digest and two versions never share one.

:func:`build` is pure given its inputs (the busybox bytes and the demo files,
read by :func:`find_busybox` and :func:`read_demo_files`); pushing them to
the local registry is :func:`reconciler.sandbox.registry.publish`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import platform
import struct
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.errors import WorldError

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"

DEMO_DIR = Path(__file__).parent / "demo"
EPOCH = 1704067200  # 2024-01-01T00:00:00Z, the mtime of every file in the layers
CREATED = "2024-01-01T00:00:00Z"

# busybox applets linked in /bin: enough for the entry point, the CGI script,
# healthchecks (wget) and poking around with `docker exec`.
APPLETS = (
    "[", "[[", "ash", "cat", "cp", "cut", "date", "echo", "env", "false", "grep", "head", "hostname",
    "httpd", "id", "kill", "ln", "ls", "mkdir", "mv", "nc", "nslookup", "printenv", "ps", "pwd",
    "rm", "sed", "sh", "sleep", "sort", "tail", "test", "timeout", "top", "touch", "tr", "true", "uname",
    "uniq", "vi", "wc", "wget", "which",
)  # fmt: skip


@dataclass(frozen=True)
class DemoImage:
    """One demo image: repository, tag, the app name it reports and its port."""

    repository: str
    tag: str
    app: str
    port: int
    broken: bool = False  # GET /health answers 500 (a third layer replaces the entry point)

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


DEMO_IMAGES: tuple[DemoImage, ...] = (
    DemoImage("popcon/frontend", "1.4.0", "popcon-frontend", 3000),
    DemoImage("popcon/frontend", "1.5.0", "popcon-frontend", 3000),
    DemoImage("popcon/backend", "2.1.0", "popcon-backend", 8080),
    DemoImage("popcon/backend", "2.2.0", "popcon-backend", 8080),
    DemoImage("popcon/mysql", "8.0", "popcon-mysql", 3306),
    DemoImage("popcon/redis", "7.2", "popcon-redis", 6379),
    DemoImage("popcon/frontend", "broken", "popcon-frontend", 3000, broken=True),
    DemoImage("popcon/backend", "broken", "popcon-backend", 8080, broken=True),
    DemoImage("popcon/mysql", "broken", "popcon-mysql", 3306, broken=True),
    DemoImage("popcon/redis", "broken", "popcon-redis", 6379, broken=True),
)

REPOSITORIES: tuple[str, ...] = tuple(dict.fromkeys(i.repository for i in DEMO_IMAGES))


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "size": len(self.data), "digest": self.digest}


@dataclass(frozen=True)
class BuiltImage:
    image: DemoImage
    config: Blob
    layers: tuple[Blob, ...]
    manifest: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()


# --------------------------------------------------------------------------
# Building (pure: bytes in, bytes out)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    path: str
    kind: bytes  # tarfile.DIRTYPE | REGTYPE | SYMTYPE
    mode: int
    data: bytes = b""
    target: str = ""


def _tar(entries: Iterable[_Entry]) -> bytes:
    """A tar with fixed owner and mtime, entries sorted by path."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for e in sorted(entries, key=lambda e: e.path):
            info = tarfile.TarInfo(e.path)
            info.type = e.kind
            info.mode = e.mode
            info.mtime = EPOCH
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if e.kind == tarfile.SYMTYPE:
                info.linkname = e.target
            info.size = len(e.data) if e.kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(e.data) if e.kind == tarfile.REGTYPE else None)
    return buf.getvalue()


def _dir(path: str, mode: int = 0o755) -> _Entry:
    return _Entry(path, tarfile.DIRTYPE, mode)


def _file(path: str, data: bytes, mode: int = 0o644) -> _Entry:
    return _Entry(path, tarfile.REGTYPE, mode, data=data)


def rootfs_entries(busybox: bytes) -> list[_Entry]:
    entries = [_dir(d) for d in ("bin", "dev", "etc", "proc", "root", "sys", "usr", "usr/bin", "var")]
    entries.append(_dir("tmp", 0o1777))
    entries.append(_file("bin/busybox", busybox, 0o755))
    entries += [_Entry(f"bin/{a}", tarfile.SYMTYPE, 0o777, target="busybox") for a in APPLETS]
    entries.append(_Entry("usr/bin/env", tarfile.SYMTYPE, 0o777, target="../../bin/busybox"))
    return entries


def app_entries(demo: dict[str, bytes]) -> list[_Entry]:
    return [
        _dir("app"),
        _file("app/start.sh", demo["start.sh"], 0o755),
        _dir("etc"),
        _file("etc/passwd", demo["passwd"]),
        _file("etc/group", demo["group"]),
        _dir("www"),
        _file("www/health", demo["health"]),
        _dir("www/cgi-bin"),
        _file("www/cgi-bin/index.cgi", demo["index.cgi"], 0o755),
    ]


def broken_entries(demo: dict[str, bytes]) -> list[_Entry]:
    """The third layer of a ``broken`` image: an entry point whose /health answers 500."""
    return [
        _dir("app"),
        _file("app/start.sh", demo["broken-start.sh"], 0o755),
        _file("app/broken.cgi", demo["broken.cgi"], 0o755),
    ]


def _layer(entries: Iterable[_Entry]) -> tuple[Blob, str]:
    """(compressed layer blob, diff_id of the uncompressed tar)."""
    raw = _tar(entries)
    gz = gzip.compress(raw, compresslevel=6, mtime=0)
    return Blob(LAYER_TYPE, gz), "sha256:" + hashlib.sha256(raw).hexdigest()


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _architecture() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def build(images: Iterable[DemoImage], busybox: bytes, demo: dict[str, bytes]) -> list[BuiltImage]:
    """Config, layers and manifest of each demo image (shared layers built once)."""
    base, base_id = _layer(rootfs_entries(busybox))
    app, app_id = _layer(app_entries(demo))
    broken, broken_id = _layer(broken_entries(demo))
    built = []
    for image in images:
        layers: tuple[Blob, ...] = (base, app, broken) if image.broken else (base, app)
        diff_ids = [base_id, app_id, broken_id] if image.broken else [base_id, app_id]
        history = [
            {"created": CREATED, "created_by": "reconciler sandbox: busybox-static root filesystem"},
            {"created": CREATED, "created_by": "reconciler sandbox: demo app (httpd + cgi)"},
        ]
        if image.broken:
            history.append({"created": CREATED, "created_by": "reconciler sandbox: broken entry point (/health 500)"})
        config = {
            "architecture": _architecture(),
            "os": "linux",
            "created": CREATED,
            "config": {
                "Env": [
                    "PATH=/bin:/usr/bin",
                    f"APP_NAME={image.app}",
                    f"APP_VERSION={image.tag}",
                    f"PORT={image.port}",
                ],
                "Cmd": ["/bin/sh", "/app/start.sh"],
                "ExposedPorts": {f"{image.port}/tcp": {}},
                "WorkingDir": "/",
                "Labels": {
                    "org.opencontainers.image.title": image.app,
                    "org.opencontainers.image.version": image.tag,
                    "org.opencontainers.image.source": "reconciler sandbox demo image",
                },
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }
        config_blob = Blob(CONFIG_TYPE, _canonical(config))
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": config_blob.descriptor(),
            "layers": [layer.descriptor() for layer in layers],
        }
        built.append(BuiltImage(image, config_blob, layers, _canonical(manifest)))
    return built


def read_demo_files(demo_dir: Path = DEMO_DIR) -> dict[str, bytes]:
    names = ("start.sh", "index.cgi", "health", "passwd", "group", "broken-start.sh", "broken.cgi")
    missing = [n for n in names if not (demo_dir / n).is_file()]
    if missing:
        raise WorldError(str(demo_dir), f"demo image files missing: {', '.join(missing)}")
    return {n: (demo_dir / n).read_bytes() for n in names}


def is_static_elf(data: bytes) -> bool:
    """True for an ELF executable without a program interpreter (statically linked)."""
    if data[:4] != b"\x7fELF":
        return False
    wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
    if wide:
        phoff = int.from_bytes(data[0x20:0x28], "little" if order == "<" else "big")
        entsize_at, num_at = 0x36, 0x38
    else:
        phoff = int.from_bytes(data[0x1C:0x20], "little" if order == "<" else "big")
        entsize_at, num_at = 0x2A, 0x2C
    (entsize,) = struct.unpack(order + "H", data[entsize_at : entsize_at + 2])
    (count,) = struct.unpack(order + "H", data[num_at : num_at + 2])
    for i in range(count):
        (p_type,) = struct.unpack(order + "I", data[phoff + i * entsize : phoff + i * entsize + 4])
        if p_type == 3:  # PT_INTERP: needs a dynamic loader the demo rootfs does not have
            return False
    return True


def find_busybox() -> Path:
    """The host's static busybox (Debian busybox-static), the whole userland of the demo images."""
    for candidate in (Path("/bin/busybox"), Path("/usr/bin/busybox")):
        if candidate.is_file():
            if not is_static_elf(candidate.read_bytes()):
                raise WorldError(
                    str(candidate),
                    "busybox is dynamically linked; the demo images need the static one "
                    "(Debian package busybox-static)",
                )
            return candidate
    raise WorldError(
        "busybox", "/bin/busybox not found; install the Debian package busybox-static (make install)"
    )
