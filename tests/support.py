"""Self-test support: run the probe suite as a user does (a subprocess, or `pytest.main` in this
process), and read its results."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt

ROOT = Path(__file__).resolve().parents[1]
SELF_TEST_REPORTS = ROOT / "reports" / "self-test"


@dataclass(frozen=True)
class ProbeRun:
    returncode: int
    output: str
    results: Path
    records: list[dict]

    def outcomes(self) -> dict[str, str]:
        return {r["probe"]: r["outcome"] for r in self.records if r["kind"] == "outcome"}

    def judged(self) -> dict[str, str]:
        """The outcomes, an inconclusive probe (the probe's own limit, which depends on
        how busy the machine was) counted as passed: not a claim about the target."""
        return {
            r["probe"]: "passed" if r.get("verdict") == "inconclusive" else r["outcome"]
            for r in self.records
            if r["kind"] == "outcome"
        }

    def failing_families(self) -> set[str]:
        return {
            r["family"]
            for r in self.records
            if r["kind"] == "outcome" and r["outcome"] in {"failed", "error"}
        }

    def failing_probes(self) -> list[str]:
        return sorted(p for p, o in self.outcomes().items() if o in {"failed", "error"})


def probe_command(out_dir: Path, *args: str) -> list[str]:
    """`python -m pytest probes ...` as a user runs it, every output under `out_dir`."""
    return probe_selection_command(out_dir, ("probes",), *args)


def probe_selection_command(out_dir: Path, selection: Sequence[str], *args: str) -> list[str]:
    """`python -m pytest <selection> ...`: some probe modules only, outputs under `out_dir`."""
    return [
        sys.executable, "-m", "pytest", *selection, "-q", "-p", "no:randomly",
        f"--st-results={out_dir / 'results.jsonl'}",
        f"--junitxml={out_dir / 'junit.xml'}",
        f"--alluredir={out_dir / 'allure-results'}",
        *args,
    ]  # fmt: skip


def probe_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """Our environment without the ST_ settings and pytest's own variables, plus `env`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ST_", "PYTEST_"))}
    environment.update(env or {})
    return environment


def read_records(results: Path) -> list[dict]:
    if not results.exists():
        return []
    return [json.loads(line) for line in results.read_text().splitlines() if line.strip()]


def run_probes(
    out_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    selection: Sequence[str] = ("probes",),
) -> ProbeRun:
    """`python -m pytest probes ...` from the repository root, outputs under `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        probe_selection_command(out_dir, selection, *args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=probe_environment(env),
        stdin=subprocess.DEVNULL,
    )
    results = out_dir / "results.jsonl"
    return ProbeRun(
        completed.returncode, completed.stdout + completed.stderr, results, read_records(results)
    )


@contextlib.contextmanager
def _environment(environment: dict[str, str]) -> Iterator[None]:
    """os.environ replaced by `environment` for the block, restored after."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environment)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_probes_here(
    out_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    selection: Sequence[str] = ("probes",),
) -> ProbeRun:
    """The run `run_probes` makes, inside this process (`pytest.main`): the same command
    line, working directory and environment, but no interpreter to start and no plugins
    to import again. The embedded server is still its own process, as a user's is.

    For runs whose verdict is read from the results file (the fault matrix); pytest's
    own output is kept as `output`. Bounded by pytest-timeout like any test.
    """
    import io

    import pytest

    out_dir.mkdir(parents=True, exist_ok=True)
    command = probe_selection_command(out_dir, selection, *args)[3:]  # without python -m pytest
    output = io.StringIO()
    with (
        _environment(probe_environment(env)),
        contextlib.chdir(ROOT),
        contextlib.redirect_stdout(output),
        contextlib.redirect_stderr(output),
    ):
        # --timeout=0: the inner tests set no alarm, so the outer test's (pytest-timeout's
        # SIGALRM) still bounds the whole run.
        code = pytest.main([*command, "--capture=sys", "-p", "no:cacheprovider", "--timeout=0"])
    results = out_dir / "results.jsonl"
    return ProbeRun(int(code), output.getvalue(), results, read_records(results))


def render_fault_table(rows: Sequence[dict]) -> str:
    lines = [
        "| fault | family | families run | caught | failing families | failing probes |",
        "|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: (r["family"], r["fault"])):
        probes = row["failing_probes"]
        shown = ", ".join(p.split("::", 1)[1] for p in probes[:3])
        if len(probes) > 3:
            shown += f" (+{len(probes) - 3} more)"
        lines.append(
            f"| {row['fault']} | {row['family']} | {row.get('ran', 'all families')} | "
            f"{'yes' if row['caught'] else 'NO'} | "
            f"{', '.join(row['failing_families'])} | {shown} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    manager_url: str
    token_file: Path
    secret_file: Path
    request_log: Path


@contextlib.contextmanager
def refserver(workdir: Path, *args: str, startup_s: float = 20.0) -> Iterator[RunningServer]:
    """`python -m refserver` on free loopback ports, always stopped afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    ready = workdir / "ready.json"
    server = RunningServer("", "", workdir / "jwt_token.txt", workdir / "secret.txt",
                           workdir / "requests.jsonl")  # fmt: skip
    command = [
        sys.executable, "-m", "refserver", "--port", "0", "--manager-port", "0",
        "--ready-file", str(ready), "--token-file", str(server.token_file),
        "--secret-file", str(server.secret_file), "--request-log", str(server.request_log),
        *args,
    ]  # fmt: skip
    log = open(workdir / "server.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_s
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((workdir / "server.log").read_text()[-2000:])
            time.sleep(0.05)
        ports = json.loads(ready.read_text())
        yield dataclasses.replace(
            server,
            base_url=f"http://127.0.0.1:{ports['port']}",
            manager_url=f"http://127.0.0.1:{ports['manager_port']}",
        )
    finally:
        stop(process)
        log.close()


def _worker_ports() -> Iterator[int]:
    """Ports below the kernel's ephemeral range, a disjoint block per xdist worker.

    A port from bind(0) is free only until the socket closes: another
    worker's server can take it before ours binds, and then our readiness
    check is answered by the wrong server (seen on CI: a test read another
    test's Pushgateway). Blocks per worker make that impossible.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 15
    start = 20000 + (index % 16) * 750
    return itertools.cycle(range(start, start + 750))


_PORTS = _worker_ports()


def free_port() -> int:
    """A loopback port that nothing holds now and no other test worker will pick."""
    for _ in range(750):
        port = next(_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port in this worker's block")


def stop(process: subprocess.Popen) -> None:
    """Terminate, then kill if it does not go within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def service(
    command: Sequence[str], ready_url: str, log: Path, *, timeout_s: float = 20.0
) -> Iterator[subprocess.Popen]:
    """A real server as a child process: up when `ready_url` answers 200, always stopped."""
    with log.open("wb") as handle:
        process = subprocess.Popen(list(command), stdout=handle, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{command[0]} exited with {process.returncode}: {log.read_text()[-2000:]}"
                )
            try:
                if httpx.get(ready_url, timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ready_url} not ready after {timeout_s:g} s")
            time.sleep(0.1)
        yield process
    finally:
        stop(process)


@contextlib.contextmanager
def pushgateway_at(workdir: Path) -> Iterator[str]:
    """A real Pushgateway (Debian `prometheus-pushgateway`) on loopback, with its URL."""
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        raise RuntimeError("prometheus-pushgateway is not installed (scripts/bootstrap --dev)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # Debian's build persists to /var/lib/prometheus by default: every test's
    # gateway would start with the earlier tests' metrics.
    persistence = workdir / "pushgateway.data"
    command = [
        binary,
        f"--web.listen-address=127.0.0.1:{port}",
        f"--persistence.file={persistence}",
    ]
    with service(command, f"{url}/-/ready", workdir / "pushgateway.log"):
        yield url


def mint_token(subject: str = "probe") -> str:
    """A real HS256 JWT under a random key, minted at run time: no token is stored in the tree."""
    return jwt.encode({"sub": subject}, os.urandom(32).hex(), algorithm="HS256")


def family_against_refserver(
    tmp_path: Path,
    family: str,
    *server_args: str,
    rate_per_second: float = 50,
    burst: int = 50,
    profile_extra: dict | None = None,
    rtt_ms: float | None = None,
    timeout: float = 120,
    selection: Sequence[str] | None = None,
) -> ProbeRun:
    """`pytest probes/test_<family>.py` (or `selection`) against `refserver --rate R --burst B
    *server_args`, started apart as an external target (token, secret, manager and a profile
    stating its limit), optionally behind a delaying proxy of `rtt_ms` (+-10 ms jitter) on
    both ports."""
    import yaml
    from delayproxy import DelayProxy

    profile = tmp_path / "profile.yaml"
    profile.write_text(
        yaml.safe_dump(
            {
                "name": "far",
                "environment": "local",
                "rate_limit": {"rate_per_second": rate_per_second, "burst": burst},
                "scenes": ["res://vr_main.tscn", "res://scenes/lobby.tscn"],
                **(profile_extra or {}),
            }
        )
    )
    args = ("--rate", f"{rate_per_second:g}", "--burst", str(burst), *server_args)
    with refserver(tmp_path / "server", *args) as server:

        def run(url: str, manager: str) -> ProbeRun:
            return run_probes(
                tmp_path / "out",
                f"--st-target={url}",
                f"--st-manager-url={manager}",
                f"--st-token-file={server.token_file}",
                f"--st-secret-file={server.secret_file}",
                f"--st-profile={profile}",
                selection=selection or (f"probes/test_{family}.py",),  # this family only
                timeout=timeout,
            )

        if rtt_ms is None:
            return run(server.base_url, server.manager_url)
        api = int(server.base_url.rsplit(":", 1)[1])
        manager = int(server.manager_url.rsplit(":", 1)[1])
        with (
            DelayProxy(("127.0.0.1", api), rtt_ms=rtt_ms, jitter_ms=10, seed=7) as api_proxy,
            DelayProxy(("127.0.0.1", manager), rtt_ms=rtt_ms, jitter_ms=10, seed=8) as proxy,
        ):
            return run(api_proxy.url(), proxy.url())


@contextlib.contextmanager
def stalled_now_and_then(
    marker: str, *, every_s: float = 2.0, length_s: float = 0.8
) -> Iterator[list[float]]:
    """Stop our child processes whose command line holds `marker` for `length_s` every
    `every_s` (SIGSTOP, SIGCONT): a loaded machine that does not run the probe for a while.
    Yields the list of stall start times (monotonic), filled as they happen."""
    import psutil

    done = threading.Event()
    stalls: list[float] = []

    def victims() -> list[psutil.Process]:
        found = []
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if marker in " ".join(child.cmdline()):
                    found.append(child)
        return found

    def loop() -> None:
        while not done.wait(every_s):
            stopped = []
            for victim in victims():
                with contextlib.suppress(psutil.Error):
                    victim.send_signal(signal.SIGSTOP)
                    stopped.append(victim)
            if stopped:
                stalls.append(time.monotonic())
            time.sleep(length_s)
            for victim in stopped:
                with contextlib.suppress(psutil.Error):
                    victim.send_signal(signal.SIGCONT)

    thread = threading.Thread(target=loop, name="staller", daemon=True)
    thread.start()
    try:
        yield stalls
    finally:
        done.set()
        thread.join(timeout=every_s + length_s + 5)


def chromium_binary() -> str | None:
    """Debian's Chromium (scripts/bootstrap --dev installs it)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(browser: str, profile: Path, *args: str, size: str = "1400,1000") -> str:
    """Headless Chromium on one page (``--dump-dom`` or ``--screenshot=FILE``): its stdout."""
    completed = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", f"--window-size={size}",
         "--virtual-time-budget=10000", *args],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


# A pure module takes its clock as an argument (`now`) or an injected callable.
CLOCK_AND_FILE_CALLS = frozenset(
    {"open", "read_text", "write_text", "time", "now", "utcnow", "monotonic", "perf_counter",
     "sleep"}
)  # fmt: skip


def clock_and_file_calls(path: Path) -> list[str]:
    """``line: name()`` of every call in the module at ``path`` that opens a file or reads
    the clock (by called name, whatever object it is called on)."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in CLOCK_AND_FILE_CALLS:
                found.append(f"{node.lineno}: {called}()")
    return found


@contextlib.contextmanager
def loopback_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` served from a thread on a free 127.0.0.1 port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
