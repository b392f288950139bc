"""Shared plumbing of the load benchmarks: targets, Locust and wrk runs, throughput figures.

Not a benchmark itself. Targets: the reference server (`refserver`, the
contract's implementation, started as the probes start it, ~1-2k req/s:
usually the bottleneck, so it cannot show the generator's limits) and an
nginx stub answering canned JSON on every path (`nginx`, tens of thousands
req/s: the generator is then the bottleneck, which is what these benchmarks
are about). Ports and process stops are the self-tests' (tests/support.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support import free_port, stop  # noqa: E402  (the self-tests' ports and process stop)

from loadtests.traffic import OPERATOR_MIX, interleave  # noqa: E402
from probes.target import EmbeddedServer  # noqa: E402

PROFILES = ROOT / "loadtests" / "api.py"
BARE = ROOT / "benchmarks" / "load_bare_locustfile.py"

NGINX_CONF = """
worker_processes 1;
error_log stderr error;
pid {dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port};
    keepalive_requests 10000000;
    location / {{
      default_type application/json;
      return 200 '{{"scenes": ["res://vr_main.tscn"], "status": "ok"}}';
    }}
  }}
}}
"""


@dataclass(frozen=True)
class Target:
    name: str
    base_url: str
    token_file: Path


@contextlib.contextmanager
def target(name: str, workdir: Path) -> Iterator[Target]:
    """Start `refserver` (limiter out of the way) or the nginx stub; stop it afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    if name == "refserver":
        # The probes' embedded server, without a request log (it would slow the server).
        server = EmbeddedServer(
            rate_per_second=1e6, burst=1_000_000, scenes=("res://vr_main.tscn",)
        )
        started = server.start()
        try:
            yield Target(name, started.base_url, server.token_file)
        finally:
            server.stop()
        return
    if name != "nginx":
        raise ValueError(f"unknown target {name!r}")
    if shutil.which("nginx") is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
    token = workdir / "jwt_token.txt"
    token.write_text("stub.token.unchecked\n")
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=workdir, port=port))
    process = subprocess.Popen(
        ["nginx", "-p", str(workdir), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("nginx did not start")
            time.sleep(0.05)
        yield Target(name, f"http://127.0.0.1:{port}", token)
    finally:
        stop(process)


@dataclass(frozen=True)
class Throughput:
    requests: int
    seconds: float
    cpu_seconds: float = 0.0  # CPU time of the generator's processes (user + system)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def per_cpu_second(self) -> float:
        """Requests per CPU-second: the generator's efficiency, whatever else runs."""
        return self.requests / self.cpu_seconds if self.cpu_seconds else 0.0


def locust_throughput(stats_json: Path) -> Throughput:
    """Requests over the span from first start to last request, from `--json-file`."""
    entries = json.loads(stats_json.read_text())
    requests = sum(e["num_requests"] for e in entries)
    start = min(e["start_time"] for e in entries)
    end = max(e["last_request_timestamp"] or start for e in entries)
    return Throughput(requests, end - start)


def run_locust(
    locustfile: Path,
    tgt: Target,
    *,
    users: int,
    seconds: int,
    extra: Sequence[str] = (),
    processes: int = 1,
) -> Throughput:
    """One headless Locust run, saturating (no think time); its throughput."""
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
        out = Path(tmp)
        command = [
            sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--only-summary",
            "--host", tgt.base_url, "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
            "--json-file", str(out / "stats"), *extra,
        ]  # fmt: skip
        if processes > 1:
            port = str(free_port())
            command += ["--processes", str(processes)]
            command += ["--master-bind-port", port, "--master-port", port]
        env = {**os.environ, "BARE_TOKEN_FILE": str(tgt.token_file)}
        process = subprocess.Popen(
            command, cwd=out, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        samples = _cpu_samples_until_exit(process, timeout_s=seconds + 120)
        done = locust_throughput(out / "stats.json")
        span_start, span_end = _request_span(out / "stats.json")
        cpu = _interpolate(samples, span_end) - _interpolate(samples, span_start)
        return Throughput(done.requests, done.seconds, cpu)


def _request_span(stats_json: Path) -> tuple[float, float]:
    entries = json.loads(stats_json.read_text())
    start = min(e["start_time"] for e in entries)
    return start, max(e["last_request_timestamp"] or start for e in entries)


def _cpu_samples_until_exit(
    process: subprocess.Popen[bytes], *, timeout_s: float
) -> list[tuple[float, float]]:
    """(epoch, user + system CPU of the process tree) every 0.2 s until it exits.

    Sampling lets the CPU spent on start-up (imports, forks) be left out: only
    the span in which requests were sent is compared.
    """
    import psutil

    last: dict[int, float] = {}
    samples: list[tuple[float, float]] = []
    deadline = time.monotonic() + timeout_s
    root = psutil.Process(process.pid)
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(psutil.Error):
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    last[proc.pid] = times.user + times.system
        samples.append((time.time(), sum(last.values())))
        time.sleep(0.2)
    if process.poll() is None:
        process.kill()
    process.wait()
    return samples


def _interpolate(samples: list[tuple[float, float]], when: float) -> float:
    if not samples:
        return 0.0
    previous = samples[0]
    for sample in samples:
        if sample[0] >= when:
            if sample[0] == previous[0]:
                return sample[1]
            share = (when - previous[0]) / (sample[0] - previous[0])
            return previous[1] + share * (sample[1] - previous[1])
        previous = sample
    return samples[-1][1]


def profile_args(tgt: Target, results: Path) -> list[str]:
    """The load profiles' operators only, back to back (the bare file mirrors them)."""
    return [
        "OperatorUser", "--st-token-file", str(tgt.token_file), "--st-think-scale", "0",
        "--st-results", str(results), "--st-max-error-ratio", "1", "--st-sla-ms", "60000",
    ]  # fmt: skip


def wrk_lua(token: str) -> str:
    """A wrk script cycling through the operator mix, weighted like the profiles."""
    calls = [next(gen) for gen in [interleave(OPERATOR_MIX)] for _ in range(19)]
    lines = ["local reqs = {}", "init = function(args)"]
    for call in calls:
        headers = '{["Content-Type"] = "application/json"'
        if call.auth:
            headers += f', ["Authorization"] = "Bearer {token}"'
        headers += "}"
        body = '"{\\"scene_path\\": \\"res://vr_main.tscn\\"}"' if call.scene_body else "nil"
        request = f'wrk.format("{call.method}", "{call.endpoint}", {headers}, {body})'
        lines.append(f"  table.insert(reqs, {request})")
    lines += [
        "end",
        "local i = 0",
        "request = function()",
        "  i = i % #reqs + 1",
        "  return reqs[i]",
        "end",
    ]
    return "\n".join(lines) + "\n"


def run_wrk(tgt: Target, *, connections: int, seconds: int, threads: int = 1) -> Throughput:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_lua(tgt.token_file.read_text().strip()))
    try:
        completed = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", script.name,
             tgt.base_url],
            capture_output=True, text=True, timeout=seconds + 60, check=False,
        )  # fmt: skip
    finally:
        os.unlink(script.name)
    found = re.search(r"(\d+) requests in ([\d.]+)s", completed.stdout)
    if not found:
        raise RuntimeError(f"wrk failed: {completed.stdout}{completed.stderr}")
    return Throughput(int(found.group(1)), float(found.group(2)))


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
