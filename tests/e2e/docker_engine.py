"""A container engine for the compose test, made from Debian packages where the machine has none.

`engine()` uses the engine that answers (DOCKER_HOST or the default socket); otherwise it starts
`dockerd` on a private data root and socket and stops it, by its pid, afterwards. The data root
persists, so the base images built here and BuildKit's package caches serve the next run.
`base_images()` names the base images to build on: the official ones where they are present or can
be pulled, otherwise stand-ins built from Debian packages (a `debootstrap` of bookworm, imported),
cached by name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

ENGINE_ROOT = Path("/var/lib/inference-e2e")
RUN_DIR = Path("/run/inference-e2e")
SOCKET = RUN_DIR / "docker.sock"
PACKAGES = {"dockerd": "docker.io", "docker-compose": "docker-compose", "debootstrap": "debootstrap"}
STANDIN = Path(__file__).resolve().parent / "standin"
DEBIAN_IMAGE = "inference-e2e/debian:bookworm"
# The build argument or compose variable -> (the official image, its stand-in, the stand-in's Dockerfile).
BASES = {
    "PYTHON_IMAGE": ("python:3.11-slim", "inference-e2e/python:3.11-bookworm", "python.Dockerfile"),
    "RABBITMQ_IMAGE": ("rabbitmq:3.13-management", "inference-e2e/rabbitmq:bookworm", "rabbitmq.Dockerfile"),
    "REDIS_IMAGE": ("redis:7", "inference-e2e/redis:bookworm", "redis.Dockerfile"),
}


def run(
    argv: list[str],
    env: dict[str, str],
    timeout: float = 600,
    check: bool = True,
    cwd: Path | None = None,
    stdin: IO[bytes] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`argv`'s output; with `check`, a failure raises with the end of that output in the message."""
    result = subprocess.run(
        argv, env=env, cwd=cwd, stdin=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}:\n{output}")
    return result


def install_missing() -> list[str]:
    """apt-get install whatever of docker.io, docker-compose and debootstrap is missing; what was."""
    missing = [package for command, package in PACKAGES.items() if shutil.which(command) is None]
    if missing:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise RuntimeError(f"needs {', '.join(missing)} (apt-get install, as root)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "update", "-qq"], env, timeout=600)
        run(["apt-get", "install", "-y", "-qq", *missing], env, timeout=1200)
    return missing


def _answers(env: dict[str, str]) -> bool:
    return run(["docker", "version"], env, timeout=30, check=False).returncode == 0


@contextlib.contextmanager
def engine() -> Iterator[dict[str, str]]:
    """The environment in which `docker` and `docker-compose` reach an engine, for the block."""
    env = builder_env(dict(os.environ))
    if _answers(env):
        yield env
        return
    env["DOCKER_HOST"] = f"unix://{SOCKET}"
    if _answers(env):  # one left by an interrupted run: use it, leave it
        yield env
        return
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    (ENGINE_ROOT / "docker").mkdir(parents=True, exist_ok=True)
    log = (ENGINE_ROOT / "dockerd.log").open("ab")
    dockerd = subprocess.Popen(
        [
            "dockerd",
            f"--data-root={ENGINE_ROOT / 'docker'}",
            f"--exec-root={RUN_DIR / 'exec'}",
            f"--pidfile={RUN_DIR / 'dockerd.pid'}",
            f"--host=unix://{SOCKET}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not _answers(env):
            if dockerd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start; see {ENGINE_ROOT / 'dockerd.log'}")
            time.sleep(0.5)
        yield env
    finally:
        dockerd.terminate()
        try:
            dockerd.wait(timeout=60)
        except subprocess.TimeoutExpired:
            dockerd.kill()
            dockerd.wait()
        log.close()


def builder_env(env: dict[str, str]) -> dict[str, str]:
    """BuildKit on, for `docker build` and for compose (v1 builds through the docker CLI only so).

    A docker CLI from release 23 on builds with BuildKit only through its buildx plugin; Debian's
    docker.io (20.10) has BuildKit built in. The first CLI on PATH that can is put first.
    """
    env = {**env, "DOCKER_BUILDKIT": "1", "COMPOSE_DOCKER_CLI_BUILD": "1"}
    candidates = [shutil.which("docker", path=env.get("PATH")), "/usr/bin/docker"]
    for cli in filter(None, candidates):
        version = run([cli, "version", "--format", "{{.Client.Version}}"], env, timeout=30, check=False)
        major = version.stdout.strip().split(".")[0]
        buildx = run([cli, "buildx", "version"], env, timeout=30, check=False).returncode == 0
        if buildx or (major.isdigit() and int(major) < 23):
            env["PATH"] = f"{Path(cli).parent}{os.pathsep}{env.get('PATH', '')}"
            break
    return env


def compose_command(env: dict[str, str]) -> list[str]:
    if run(["docker", "compose", "version"], env, timeout=30, check=False).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"]


def image_exists(name: str, env: dict[str, str]) -> bool:
    return run(["docker", "image", "inspect", name], env, timeout=30, check=False).returncode == 0


def base_images(env: dict[str, str]) -> dict[str, str]:
    """PYTHON_IMAGE, RABBITMQ_IMAGE and REDIS_IMAGE: the official image, or else its stand-in."""
    chosen = {}
    for variable, (official, standin, dockerfile) in BASES.items():
        if (
            image_exists(official, env)
            or run(["docker", "pull", official], env, 120, check=False).returncode == 0
        ):
            chosen[variable] = official
            continue
        if not image_exists(standin, env):
            _debian(env)
            run(
                [
                    "docker",
                    "build",
                    "-t",
                    standin,
                    "--build-arg",
                    f"DEBIAN_IMAGE={DEBIAN_IMAGE}",
                    "-f",
                    str(STANDIN / dockerfile),
                    str(STANDIN),
                ],
                env,
                timeout=900,
            )
        chosen[variable] = standin
    return chosen


def _debian(env: dict[str, str]) -> None:
    """Debian bookworm (minbase) from the machine's own mirror, with its trusted certificates."""
    if image_exists(DEBIAN_IMAGE, env):
        return
    with tempfile.TemporaryDirectory(prefix="inference-e2e-rootfs-") as scratch:
        rootfs = Path(scratch) / "rootfs"
        run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), debian_mirror()], env, timeout=900)
        # Like Debian's official image: no service starts inside a build.
        policy = rootfs / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        # The host's local certificate authorities, installed by ca-certificates when a stand-in adds it.
        local_cas = Path("/usr/local/share/ca-certificates")
        if local_cas.is_dir():
            shutil.copytree(local_cas, rootfs / "usr/local/share/ca-certificates", dirs_exist_ok=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        run(["docker", "import", "-", DEBIAN_IMAGE], env, timeout=600, stdin=tar.stdout)
        tar.wait()


def debian_mirror() -> str:
    """The Debian mirror apt uses on this machine (deb822 or one-line sources), else deb.debian.org."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for source in sources:
        if not source.is_file():
            continue
        for line in source.read_text().splitlines():
            words = line.split()
            urls = words[1:] if words[:1] == ["URIs:"] else words[1:] if words[:1] == ["deb"] else []
            for url in urls:
                if url.startswith("http") and "security" not in url:
                    return url
    return "http://deb.debian.org/debian"
