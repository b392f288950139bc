"""TLS handshakes with one endpoint, turned into `TlsFacts` (the I/O half of probes/tls.py).

Three handshakes, each bounded by the request timeout:

1. inspect: verification off, every version from TLS 1.0 offered, so an
   expired, self-signed or misnamed certificate is still read and the
   server's best version is seen;
2. verify: what the probes' HTTP client does (the CA file given, or
   certifi's bundle; hostname checked);
3. old: a client offering at most TLS 1.1, which must be refused.

Never raises for a bad endpoint: a failure is a one-line `error` in the facts.
"""

from __future__ import annotations

import _ssl
import contextlib
import socket
import ssl
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from probes.client import one_line, resolve, ssl_context
from probes.tls import Certificate, TlsFacts, parse_certificate


@contextlib.contextmanager
def _legacy_allowed() -> Iterator[None]:
    # Setting TLS 1.0/1.1 bounds warns (DeprecationWarning): here we mean it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _permissive(max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with _legacy_allowed():
        # OpenSSL 3 allows TLS < 1.2 only at security level 0.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.TLSv1
        if max_version is not None:
            context.maximum_version = max_version
    return context


_DER = getattr(_ssl, "ENCODING_DER", 2)


def _chain(sock: ssl.SSLSocket, verified: bool) -> tuple[Certificate, ...]:
    """The chain as DER: public methods from Python 3.13, private `_sslobj` ones before."""
    name = "get_verified_chain" if verified else "get_unverified_chain"
    method = getattr(sock, name, None) or getattr(getattr(sock, "_sslobj", None), name, None)
    ders: list[bytes] = []
    if method is not None:
        with contextlib.suppress(ssl.SSLError, ValueError):
            for cert in method() or ():
                ders.append(cert if isinstance(cert, bytes) else cert.public_bytes(_DER))
    if not ders and not verified:
        leaf = sock.getpeercert(binary_form=True)
        ders = [leaf] if leaf else []
    return tuple(parse_certificate(der) for der in ders)


def _handshake(context: ssl.SSLContext, host: str, port: int, deadline: float) -> ssl.SSLSocket:
    left = max(0.01, deadline - time.perf_counter())
    address = resolve(host, port, left)
    left = max(0.01, deadline - time.perf_counter())
    raw = socket.create_connection((address, port), timeout=left)
    try:
        # The socket timeout bounds the whole handshake (CPython keeps a deadline).
        raw.settimeout(max(0.01, deadline - time.perf_counter()))
        return context.wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return one_line(exc.verify_message or str(exc), 200)
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timeout during the TLS handshake"
    if isinstance(exc, ssl.SSLError):
        return one_line(f"{exc.reason or exc.__class__.__name__}: {exc}", 200)
    if isinstance(exc, OSError):
        return one_line(exc.strerror or str(exc) or exc.__class__.__name__, 200)
    return one_line(f"{exc.__class__.__name__}: {exc}", 200)


def inspect(url: str, *, ca_file: str | Path | None, timeout_s: float) -> TlsFacts:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 443

    def deadline() -> float:
        return time.perf_counter() + timeout_s

    try:
        sock = _handshake(_permissive(), host, port, deadline())
    except Exception as exc:
        return TlsFacts(url=url, host=host, port=port, error=f"no TLS handshake: {_reason(exc)}")
    with sock:
        cipher = sock.cipher()
        facts = TlsFacts(
            url=url, host=host, port=port, version=sock.version(),
            cipher=cipher[0] if cipher else None, chain=_chain(sock, verified=False),
        )  # fmt: skip

    verify_error: str | None = None
    verified: tuple[Certificate, ...] = ()
    try:
        context = ssl_context(ca_file)
    except ValueError as exc:
        verify_error = f"a verifying client cannot start: {exc}"
    else:
        try:
            with _handshake(context, host, port, deadline()) as sock:
                verified = _chain(sock, verified=True) or facts.chain
        except ssl.SSLCertVerificationError as exc:
            verify_error = f"certificate not trusted: {_reason(exc)}"
        except Exception as exc:
            verify_error = f"a verifying client cannot connect: {_reason(exc)}"

    if not ssl.HAS_TLSv1_1:
        old = "not tried: this OpenSSL has no TLS 1.1"
    else:
        try:
            with _handshake(_permissive(ssl.TLSVersion.TLSv1_1), host, port, deadline()) as sock:
                old = f"accepted {sock.version()}"
        except Exception as exc:
            old = f"refused ({_reason(exc)})"
    return TlsFacts(
        url=facts.url, host=host, port=port, version=facts.version, cipher=facts.cipher,
        chain=facts.chain, verify_error=verify_error, verified_chain=verified, old_tls=old,
    )  # fmt: skip
