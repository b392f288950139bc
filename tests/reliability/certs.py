"""Test certificates made with `cryptography`: a CA and the server certificates signed by it.

EC P-256 keys: fast to make, accepted by OpenSSL at every security level.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Authority:
    cert: Path
    key_obj: ec.EllipticCurvePrivateKey
    cert_obj: x509.Certificate


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "spacetime-probes self-test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write(
    directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> Pair:
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return Pair(cert_path, key_path)


def make_ca(directory: Path, name: str = "spacetime-probes test CA") -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - DAY)
        .not_valid_after(now + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pair = _write(directory, "ca", cert, key)
    return Authority(pair.cert, key, cert)


def make_server_cert(
    directory: Path,
    stem: str,
    *,
    ca: Authority | None,
    names: tuple[str, ...] = ("localhost", "127.0.0.1"),
    valid_from_days: float = -1,
    valid_days: float = 365,
) -> Pair:
    """A server certificate for `names` (DNS names and IP addresses), signed by `ca`,
    or self-signed when `ca` is None. Validity from now + `valid_from_days`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    subject = _name(names[0])
    issuer = ca.cert_obj.subject if ca else subject
    start = now + valid_from_days * DAY
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + valid_days * DAY)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    )
    if ca is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key_obj.public_key()),
            critical=False,
        )
    cert = builder.sign(ca.key_obj if ca else key, hashes.SHA256())
    return _write(directory, stem, cert, key)


@dataclass(frozen=True)
class CertSet:
    """Everything the TLS self-tests need, made once per session."""

    ca: Authority
    good: Pair  # 127.0.0.1 and localhost, a year left
    short: Pair  # expires in 10 days
    expired: Pair  # expired 2 days ago
    wrong_host: Pair  # for spacetime.example.com only
    self_signed: Pair  # right names, no CA


def make_cert_set(directory: Path) -> CertSet:
    ca = make_ca(directory)
    return CertSet(
        ca=ca,
        good=make_server_cert(directory, "good", ca=ca),
        short=make_server_cert(directory, "short", ca=ca, valid_days=10),
        expired=make_server_cert(directory, "expired", ca=ca, valid_from_days=-30, valid_days=-2),
        wrong_host=make_server_cert(
            directory, "wrong-host", ca=ca, names=("spacetime.example.com",)
        ),
        self_signed=make_server_cert(directory, "self-signed", ca=None),
    )
