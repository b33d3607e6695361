"""A Python base image made from this machine, for building the Dockerfile without the internet.
Test helper.

As the sandbox's demo images are made from the host's static busybox, this base is made from
the host's files: busybox (``/bin/sh``), the Python that runs the tests (its binary, its
standard library and ``pip``), the installed distributions the reconciler
requires (its ``dependencies``, with extras, followed transitively), git, and every shared
library those programs load (``ldd``). ``docker import`` turns the tar into an image tagged
by a hash of what went in, so it is built once per machine.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from reconciler.sandbox.images import APPLETS, find_busybox

REPO = Path(__file__).resolve().parents[1]
PREFIX = "usr/local"
PY = f"python{sys.version_info.major}.{sys.version_info.minor}"
SKIP_STDLIB = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages", "__pycache__"}
LIBDIR = "lib/x86_64-linux-gnu"


def _name(dist: metadata.Distribution) -> str:
    return re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()


def distributions() -> list[metadata.Distribution]:
    """The installed distributions the reconciler needs, plus pip (the Dockerfile finds them installed)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r) for r in project["dependencies"]] + [Requirement("pip")]
    found: dict[str, metadata.Distribution] = {}
    while todo:
        req = todo.pop()
        dist = metadata.distribution(req.name)
        key = _name(dist)
        known = key in found
        found[key] = dist
        for raw in dist.requires or []:
            sub = Requirement(raw)
            wanted = sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in (req.extras or {""}))
            if wanted and (not known or sub.marker is not None):
                todo.append(sub)
    return sorted(found.values(), key=_name)


def _files() -> Iterator[tuple[Path, str]]:
    """(host path, path in the image) of every file the base holds, besides busybox."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for root, dirs, files in os.walk(stdlib):
        dirs[:] = [d for d in dirs if d not in SKIP_STDLIB and not d.startswith("config-")]
        for f in files:
            path = Path(root) / f
            yield path, f"{PREFIX}/lib/{PY}/{path.relative_to(stdlib)}"
    yield Path(sys.executable).resolve(), f"{PREFIX}/bin/{PY}"
    for dist in distributions():
        for rel in dist.files or []:
            if rel.parts[0] == ".." or "__pycache__" in rel.parts:
                continue
            path = Path(str(dist.locate_file(rel)))
            if path.is_file():
                yield path, f"{PREFIX}/lib/{PY}/site-packages/{rel}"
    yield Path("/usr/bin/git"), "usr/bin/git"
    for path in sorted(Path("/usr/lib/git-core").iterdir()):
        if path.is_file() and not path.is_symlink():  # its symlinks are made as symlinks
            yield path, f"usr/lib/git-core/{path.name}"
    yield Path("/etc/ssl/certs/ca-certificates.crt"), "etc/ssl/certs/ca-certificates.crt"


def _is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def _libraries(binaries: Iterable[Path]) -> set[Path]:
    """The shared libraries (and the loader) ``binaries`` load, as ldd resolves them."""
    libs: set[Path] = set()
    for binary in binaries:
        done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
        for line in done.stdout.splitlines():
            m = re.search(r"(/\S+) \(0x", line)
            if m:
                libs.add(Path(m.group(1)))
    return libs


def rootfs_tar() -> tuple[bytes, str]:
    """The base's root filesystem as a tar, and a short hash of it."""
    files = list(_files())
    elves = [host for host, _ in files if host.suffix == ".so" or ".so." in host.name or _is_elf(host)]
    libs = _libraries(elves)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        def add_bytes(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))

        def add_link(name: str, target: str) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
            tar.addfile(info)

        for d in ("bin", "dev", "etc", "proc", "sys", "usr", "usr/bin", "var", "lib", LIBDIR, "lib64", "root"):
            add_dir(d)
        add_dir("tmp", 0o1777)
        add_bytes("bin/busybox", find_busybox().read_bytes(), 0o755)
        for applet in (*APPLETS, "stat", "chown", "chmod", "xargs", "find"):
            add_link(f"bin/{applet}", "busybox")
        users = b"root:x:0:0:root:/root:/bin/sh\nreconciler:x:10001:10001::/var/lib/reconciler:/bin/sh\n"
        add_bytes("etc/passwd", users)
        add_bytes("etc/group", b"root:x:0:\nreconciler:x:10001:\n")
        for lib in sorted(libs):
            real = lib.resolve()
            where = "lib64" if lib.name.startswith("ld-linux") else LIBDIR
            tar.add(str(real), arcname=f"{where}/{lib.name}")
        seen: set[str] = set()
        for host, inside in files:
            if inside in seen:
                continue
            seen.add(inside)
            tar.add(str(host.resolve()), arcname=inside)
        for path in sorted(Path("/usr/lib/git-core").iterdir()):
            if path.is_symlink():
                add_link(f"usr/lib/git-core/{path.name}", os.readlink(path))
        add_link(f"{PREFIX}/bin/python3", PY)
        add_link("usr/bin/python3", f"../local/bin/{PY}")
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()[:12]


def build_base(docker_cli: str = "docker") -> str:
    """``docker import`` the base (once per content); its tag."""
    data, digest = rootfs_tar()
    tag = f"reconciler-test/python-base:{digest}"
    have = subprocess.run([docker_cli, "image", "inspect", tag], capture_output=True, check=False)
    if have.returncode != 0:
        subprocess.run([docker_cli, "import", "--change", f"ENV PATH=/{PREFIX}/bin:/usr/bin:/bin", "-", tag],
                       input=data, check=True, capture_output=True)  # fmt: skip
    return tag
