"""A real nginx in front of the reference server, configured as seed 001 shows.

Everything nginx writes (pid, logs, temp files) stays in the test's
directory; it runs in the foreground (`daemon off`) as a child process.

Seed 001's block, with the one change nginx insists on: `limit_req_zone`
is only allowed in the `http` block (as printed in the seed, inside
`server`, `nginx -t` rejects it). Its basic auth and /api/ prefix are left
out: the probes bring their own Bearer token and talk to the API at `/`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

# What the seed forgets: nginx's 429 carries neither Retry-After nor a JSON body.
JSON_429 = """
        error_page 429 = @rate_limited;
        location @rate_limited {
            default_type application/json;
            add_header Retry-After 1 always;
            return 429 '{"error": "rate_limited", "message": "too many requests"}';
        }"""


def available() -> bool:
    return os.path.exists(NGINX) and os.access(NGINX, os.X_OK)


@dataclass(frozen=True)
class Front:
    url: str
    directory: Path

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


def config(
    directory: Path,
    *,
    port: int,
    upstream: str,
    cert: Path,
    key: Path,
    limit_req_status: int | None = None,
    json_429: bool = False,
) -> str:
    """nginx.conf text: seed 001's TLS and limit_req, proxying to `upstream` (host:port)."""
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    status = f"limit_req_status {limit_req_status};" if limit_req_status else ""
    d = directory
    return f"""\
{user}
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;

    # Rate limiting (seed 001), the zone in the http block where nginx allows it
    limit_req_zone $binary_remote_addr zone=api_limit:10m rate=10r/s;

    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;

        # SSL configuration (seed 001)
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers HIGH:!aNULL:!MD5;
        ssl_prefer_server_ciphers on;

        limit_req zone=api_limit burst=20 nodelay;
        {status}

        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 30s;
            proxy_connect_timeout 5s;
        }}{JSON_429 if json_429 else ""}
    }}
}}
"""


def check(conf: Path, directory: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on a config file."""
    return subprocess.run(
        [NGINX, "-t", "-p", f"{directory}/", "-c", str(conf), "-e", str(directory / "error.log")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


@contextlib.contextmanager
def front(
    directory: Path, *, upstream: str, cert: Path, key: Path, **options: object
) -> Iterator[Front]:
    """nginx on a free loopback port with TLS, stopped (SIGQUIT, then SIGKILL) afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tmp").mkdir(exist_ok=True)
    port = free_port()
    conf = directory / "nginx.conf"
    conf.write_text(config(directory, port=port, upstream=upstream, cert=cert, key=key,
                           **options))  # type: ignore[arg-type]  # fmt: skip
    tested = check(conf, directory)
    if tested.returncode != 0:
        raise RuntimeError(f"nginx -t failed: {tested.stderr.strip()}")
    log = open(directory / "stderr.log", "wb")  # noqa: SIM115 - lives as long as nginx
    process = subprocess.Popen(
        [NGINX, "-p", f"{directory}/", "-c", str(conf), "-e", str(directory / "error.log")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited: {(directory / 'error.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not listen within 15 s")
            time.sleep(0.05)
        yield Front(f"https://127.0.0.1:{port}", directory)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGQUIT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()
