"""The serving image, run without Docker: read `serving/Dockerfile`, lay out the files it
copies under a temporary root, and start what its ENTRYPOINT and CMD start (the real Azure
ML inference HTTP server, from its own pinned environment) with the environment its ENV
lines set, on a free loopback port.

Paths the image sees as absolute (`/var/azureml-app`, `/tmp`) live under the temporary
root; HOME and the temporary directory point there too, so everything the server writes
lands where a test can look at it. RUN lines are not executed (no base image here): the
server's environment stands in for the base image's Python.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from offline.evaluate import ROOT
from tests.support.locked_environment import sync

DOCKERFILE = ROOT / "serving" / "Dockerfile"
FIXTURES = ROOT / "tests" / "fixtures"
# A uv project that pins the server and everything it pulls in (uv.lock).
SERVER_PROJECT = FIXTURES / "inference_server"
SERVING = FIXTURES / "serving"

START_TIMEOUT = 90.0
STOP_TIMEOUT = 10.0

# Starts a console script of the server's environment by name, bound to loopback: the
# server binds 0.0.0.0 (its DEFAULT_HOST), which a container needs and a test does not.
LAUNCHER = """
import sys
from importlib.metadata import entry_points
(script,) = entry_points(group="console_scripts", name=sys.argv[1])
module = __import__(script.module, fromlist=["*"])
if not hasattr(module, "DEFAULT_HOST"):
    sys.exit(f"{script.value} has no DEFAULT_HOST: the test server cannot be kept on loopback")
module.DEFAULT_HOST = "127.0.0.1"
sys.argv = sys.argv[1:]
sys.exit(script.load()())
"""


@dataclass
class Image:
    """What a Dockerfile declares, as far as running its server needs."""

    base: str = ""
    env: dict[str, str] = field(default_factory=dict)
    copies: list[tuple[list[str], str]] = field(default_factory=list)
    workdir: str = "/"
    user: str = ""
    expose: list[int] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    # Not executed here (no base image), only read.
    runs: list[str] = field(default_factory=list)

    @property
    def command(self) -> list[str]:
        return [*self.entrypoint, *self.cmd]

    def argument(self, flag: str) -> str:
        """The value given to `flag` in ENTRYPOINT + CMD."""
        command = self.command
        if flag not in command[:-1]:
            raise AssertionError(f"the image's command {command} has no {flag}")
        return command[command.index(flag) + 1]


def read_dockerfile(path: Path = DOCKERFILE) -> Image:
    image, args = Image(), {}
    for instruction, rest in _instructions(path.read_text()):
        if instruction == "ARG":
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif instruction == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            image.base = _substitute(words[0], args)
        elif instruction == "ENV":
            image.env.update(_env(rest))
        elif instruction == "COPY":
            words = [w for w in shlex.split(rest) if not w.startswith("--")]
            image.copies.append((words[:-1], words[-1]))
        elif instruction == "WORKDIR":
            image.workdir = rest
        elif instruction == "USER":
            image.user = rest
        elif instruction == "RUN":
            image.runs.append(rest)
        elif instruction == "EXPOSE":
            image.expose += [int(p.split("/")[0]) for p in rest.split()]
        elif instruction in ("ENTRYPOINT", "CMD"):
            try:
                words = json.loads(rest)
            except ValueError:
                raise AssertionError(f"{instruction} must be in exec form (a JSON list), got {rest}") from None
            setattr(image, instruction.lower(), words)
    return image


def _instructions(text: str) -> Iterator[tuple[str, str]]:
    logical = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        instruction, _, rest = logical.partition(" ")
        yield instruction.upper(), rest.strip()
        logical = ""


def _substitute(value: str, args: dict[str, str]) -> str:
    for name, default in args.items():
        value = value.replace(f"${{{name}}}", default).replace(f"${name}", default)
    return value


def _env(rest: str) -> dict[str, str]:
    words = shlex.split(rest)
    if "=" not in words[0]:  # the legacy `ENV NAME value` form
        return {words[0]: rest.partition(" ")[2].strip()}
    pairs = dict(word.split("=", 1) for word in words)
    unsupported = [name for name, value in pairs.items() if "$" in value]
    if unsupported:
        raise AssertionError(f"ENV values that expand variables are not laid out by this test: {unsupported}")
    return pairs


@dataclass
class Layout:
    """An image's files under a temporary root, and the environment its server gets."""

    root: Path
    image: Image

    def path(self, image_path: str) -> Path:
        """Where a path of the image lives under the root."""
        return self.root / image_path.lstrip("/")

    @property
    def workdir(self) -> Path:
        return self.path(self.image.workdir)

    @property
    def tmp(self) -> Path:
        return self.path("/tmp")

    @property
    def home(self) -> Path:
        return self.path("/home/dockeruser")

    def environment(self, bin_dir: Path) -> dict[str, str]:
        """The server's environment: the image's ENV (its paths under the root) over this
        machine's, with `bin_dir` (the server's environment) first on PATH as the base
        image's Python is."""
        env = {
            k: v
            for k, v in os.environ.items()
            # The project's virtual environment, and whatever Azure ML settings the
            # machine running the tests has, are not the image's.
            if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME") and not k.startswith(("AZUREML_", "AML_"))
        }
        env.update(HOME=str(self.home), TMPDIR=str(self.tmp), PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
        env.pop("XDG_RUNTIME_DIR", None)
        for name, value in self.image.env.items():
            env[name] = str(self.path(value)) if value.startswith("/") else value
        return env


def lay_out(image: Image, context: Path, root: Path, *, replace: dict[str, Path] | None = None) -> Layout:
    """Copy what the image's COPY lines copy from `context` (with `replace` standing in
    for some of its files) under `root`."""
    layout = Layout(root, image)
    for sources, destination in image.copies:
        target = layout.path(destination)
        for source in sources:
            origin = (replace or {}).get(source, context / source.rstrip("/"))
            if origin.is_dir():
                shutil.copytree(origin, target, dirs_exist_ok=True)
            else:
                into = target / origin.name if destination.endswith("/") else target
                into.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(origin, into)
    for directory in (layout.workdir, layout.tmp, layout.home):
        directory.mkdir(parents=True, exist_ok=True)
    return layout


# The server's environment, made by `uv sync` from the lock; the server then runs from its
# interpreter directly, so nothing of uv's shows up among what the server writes.
SERVER_ENVIRONMENT = SERVER_PROJECT / ".venv"


def install_server() -> Path:
    """Create the server's environment from its lock (network to PyPI on a cold cache);
    return its interpreter."""
    sync(SERVER_PROJECT, SERVER_ENVIRONMENT, "the inference server")
    return SERVER_ENVIRONMENT / "bin" / "python"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningServer:
    layout: Layout
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def pids(self) -> list[int]:
        """The server's processes (the arbiter and its workers share a process group)."""
        group = os.getpgid(self.process.pid)
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == group:
                        found.append(int(entry.name))
                except ProcessLookupError:
                    continue
        return found


@contextmanager
def running(layout: Layout, python: Path, health_path: str = "/") -> Iterator[RunningServer]:
    """Start the image's command with the server environment's `python` on a free
    loopback port and wait (bounded) until it answers `health_path`; always stop its whole
    process group."""
    port = free_port()
    command = layout.image.command
    command[command.index("--port") + 1] = str(port)
    # Beside the root, not in it: in a container this is stdout, not a file of the image.
    log = layout.root.with_name(f"{layout.root.name}.log")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(python), "-c", LAUNCHER, *command],
            cwd=layout.workdir,
            env=layout.environment(python.parent),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RunningServer(layout, process, port, log)
    try:
        _wait_until_answering(server, health_path)
        yield server
    finally:
        _stop(process)


def _wait_until_answering(server: RunningServer, path: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited with {server.process.returncode}:\n{server.output()[-4000:]}")
        try:
            with urllib.request.urlopen(server.url + path, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.25)
    raise AssertionError(f"the server did not answer {path} within {START_TIMEOUT} s:\n{server.output()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole group, a bounded wait, then SIGKILL to whatever is left."""
    with suppress(ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT)
