"""TLS facts, verdicts and blackbox_exporter-style metrics: pure (no sockets, no clock).

`probes/handshake.py` turns a live endpoint into `TlsFacts`; this module
judges them (`now` is an argument) and builds the Prometheus registry that
the plugin writes as a node_exporter textfile. Metric names follow
blackbox_exporter, so dashboards and alerts written for it work unchanged:
`probe_ssl_earliest_cert_expiry`, `probe_ssl_last_chain_expiry_timestamp_seconds`,
`probe_ssl_last_chain_info`, `probe_tls_version_info`, `probe_tls_cipher_info`.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from prometheus_client import CollectorRegistry, Gauge

from probes.checks import ProbeFailure

SECONDS_PER_DAY = 86400.0
# Python's names for the versions, oldest first; blackbox labels them "TLS 1.2".
VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
MIN_VERSION = "TLSv1.2"


def version_label(version: str) -> str:
    """`TLSv1.3` -> `TLS 1.3`, `TLSv1` -> `TLS 1.0` (blackbox_exporter's spelling)."""
    if version.startswith("TLSv"):
        number = version.removeprefix("TLSv")
        return f"TLS {number if '.' in number else number + '.0'}"
    return version


@dataclass(frozen=True)
class Certificate:
    subject: str
    issuer: str
    serial: str  # hex, lower case
    not_before: float  # epoch seconds
    not_after: float
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    fingerprint_sha256: str

    @property
    def alternative_names(self) -> str:
        return ",".join((*self.dns_names, *self.ip_addresses))


def parse_certificate(der: bytes) -> Certificate:
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    return Certificate(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        dns_names=dns,
        ip_addresses=ips,
        fingerprint_sha256=hashlib.sha256(der).hexdigest(),
    )


@dataclass(frozen=True)
class TlsFacts:
    """What the handshakes with one endpoint showed."""

    url: str
    host: str
    port: int
    error: str | None = None  # no handshake at all: the one-line reason
    version: str | None = None  # negotiated with a client offering TLS 1.0 to 1.3
    cipher: str | None = None
    chain: tuple[Certificate, ...] = ()  # as presented, leaf first
    verify_error: str | None = None  # why a verifying client fails; None: it succeeds
    verified_chain: tuple[Certificate, ...] = ()
    old_tls: str | None = None  # "refused", "accepted TLSv1.1", or why it was not tried

    @property
    def leaf(self) -> Certificate | None:
        return self.chain[0] if self.chain else None

    @property
    def earliest_expiry(self) -> float | None:
        """blackbox's probe_ssl_earliest_cert_expiry: over every certificate presented."""
        return min((c.not_after for c in self.chain), default=None)

    @property
    def last_chain_expiry(self) -> float | None:
        """blackbox's probe_ssl_last_chain_expiry_timestamp_seconds: the verified chain's."""
        return min((c.not_after for c in self.verified_chain), default=None)

    def to_measured(self) -> dict[str, Any]:
        """Plain JSON for the outcome's `measured`; `from_measured` reads it back."""
        data = asdict(self)
        data["earliest_expiry"] = self.earliest_expiry
        return data

    @classmethod
    def from_measured(cls, data: Mapping[str, Any]) -> TlsFacts:
        fields = dict(data)
        fields.pop("earliest_expiry", None)
        for name in ("chain", "verified_chain"):
            fields[name] = tuple(
                Certificate(**{**c, "dns_names": tuple(c["dns_names"]),
                               "ip_addresses": tuple(c["ip_addresses"])})
                for c in fields.get(name, ())
            )  # fmt: skip
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in fields.items() if k in known})


# Verdicts: each raises ProbeFailure with one line ------------------------------------------


def _where(facts: TlsFacts) -> str:
    return f"TLS {facts.host}:{facts.port}"


def handshake_done(facts: TlsFacts) -> None:
    if facts.error is not None:
        raise ProbeFailure(f"{_where(facts)}: {facts.error}")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def certificate_trusted(facts: TlsFacts) -> None:
    handshake_done(facts)
    if facts.verify_error is not None:
        raise ProbeFailure(f"{_where(facts)}: {facts.verify_error}")


def expiry_days(facts: TlsFacts, *, now: float) -> float:
    handshake_done(facts)
    earliest = facts.earliest_expiry
    if earliest is None:
        raise ProbeFailure(f"{_where(facts)}: no certificate presented")
    return (earliest - now) / SECONDS_PER_DAY


def not_expiring(facts: TlsFacts, *, now: float, min_days: float) -> float:
    """Days until the earliest certificate presented expires; at least `min_days`."""
    days = expiry_days(facts, now=now)
    earliest = min(facts.chain, key=lambda c: c.not_after)
    who = "certificate" if earliest is facts.chain[0] else f"chain certificate {earliest.subject}"
    if days < 0:
        raise ProbeFailure(
            f"{_where(facts)}: {who} expired {-days:.1f} days ago ({_iso(earliest.not_after)})",
            measured=round(days, 2),
            limit=min_days,
        )
    if days < min_days:
        raise ProbeFailure(
            f"{_where(facts)}: {who} expires in {days:.1f} days ({_iso(earliest.not_after)}), "
            f"at least {min_days:g} required",
            measured=round(days, 2),
            limit=min_days,
        )
    return days


def hostname_matches(host: str, cert: Certificate) -> bool:
    """RFC 6125: IP literals against IP SANs; names against DNS SANs, a whole-label
    leftmost `*` only; the subject CN is not consulted (as browsers and Python do)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if address is not None:
        return any(ipaddress.ip_address(ip) == address for ip in cert.ip_addresses)
    name = host.rstrip(".").lower()
    for pattern in cert.dns_names:
        pattern = pattern.rstrip(".").lower()
        if pattern == name:
            return True
        if pattern.startswith("*.") and "*" not in pattern[2:]:
            head, _, rest = name.partition(".")
            if head and rest and rest == pattern[2:] and rest.count(".") >= 1:
                return True
    return False


def hostname_check(facts: TlsFacts) -> None:
    handshake_done(facts)
    leaf = facts.leaf
    if leaf is None:
        raise ProbeFailure(f"{_where(facts)}: no certificate presented")
    if not leaf.dns_names and not leaf.ip_addresses:
        raise ProbeFailure(
            f"{_where(facts)}: certificate has no subjectAltName ({leaf.subject}); "
            "clients do not match the CN"
        )
    if not hostname_matches(facts.host, leaf):
        raise ProbeFailure(
            f"{_where(facts)}: certificate is for {leaf.alternative_names[:120]}, not {facts.host}"
        )


def modern_version(facts: TlsFacts) -> None:
    handshake_done(facts)
    version = facts.version or "unknown"
    if version not in VERSIONS or VERSIONS.index(version) < VERSIONS.index(MIN_VERSION):
        raise ProbeFailure(
            f"{_where(facts)}: negotiated {version_label(version)}, "
            f"expected {version_label(MIN_VERSION)} or newer"
        )


def old_versions_refused(facts: TlsFacts) -> None:
    handshake_done(facts)
    if facts.old_tls is not None and facts.old_tls.startswith("accepted"):
        version = facts.old_tls.removeprefix("accepted").strip()
        raise ProbeFailure(
            f"{_where(facts)}: a client offering at most TLS 1.1 was accepted "
            f"({version_label(version)}); TLS 1.2 must be the minimum"
        )


# Metrics -------------------------------------------------------------------------------------


def metrics_registry(
    endpoints: Iterable[TlsFacts], success: Mapping[str, bool] | None = None
) -> CollectorRegistry:
    """blackbox_exporter's TLS metrics per endpoint, labelled `target` (the URL).

    `success` maps a URL to whether every TLS probe of it passed (`probe_success`).
    """
    registry = CollectorRegistry()
    labels = ["target"]
    earliest = Gauge("probe_ssl_earliest_cert_expiry", "Returns earliest SSL cert expiry date",
                     labels, registry=registry)  # fmt: skip
    last_chain = Gauge(
        "probe_ssl_last_chain_expiry_timestamp_seconds",
        "Returns last SSL chain expiry timestamp", labels, registry=registry,
    )  # fmt: skip
    chain_info = Gauge(
        "probe_ssl_last_chain_info", "Contains SSL leaf certificate information",
        [*labels, "fingerprint_sha256", "subject", "issuer", "subjectalternative",
         "serialnumber"],
        registry=registry,
    )  # fmt: skip
    version = Gauge("probe_tls_version_info", "Contains TLS version information",
                    [*labels, "version"], registry=registry)  # fmt: skip
    cipher = Gauge("probe_tls_cipher_info", "Contains TLS cipher information",
                   [*labels, "cipher"], registry=registry)  # fmt: skip
    verified = Gauge(
        "spacetime_probe_tls_verified",
        "1 when the chain verified against the trusted CAs and matched the hostname",
        labels, registry=registry,
    )  # fmt: skip
    succeeded = Gauge("probe_success", "Displays whether or not the probe was a success",
                      labels, registry=registry)  # fmt: skip
    for facts in endpoints:
        target = facts.url
        if success is not None and target in success:
            succeeded.labels(target).set(1 if success[target] else 0)
        if facts.error is not None:
            continue
        if facts.earliest_expiry is not None:
            earliest.labels(target).set(facts.earliest_expiry)
        if facts.last_chain_expiry is not None:
            last_chain.labels(target).set(facts.last_chain_expiry)
        leaf = facts.leaf
        if leaf is not None:
            chain_info.labels(target, leaf.fingerprint_sha256, leaf.subject, leaf.issuer,
                              leaf.alternative_names, leaf.serial).set(1)  # fmt: skip
        if facts.version is not None:
            version.labels(target, version_label(facts.version)).set(1)
        if facts.cipher is not None:
            cipher.labels(target, facts.cipher).set(1)
        verified.labels(target).set(1 if facts.verify_error is None else 0)
    return registry
