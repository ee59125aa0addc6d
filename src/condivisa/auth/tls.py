"""TLS for MQTT (port 8883) and HTTPS: certificates, the Mosquitto listener, uvicorn and client settings.

For a community on its own network a private certificate authority (CA) is enough: :func:`make_ca` creates
it, :func:`make_server_cert` signs the server's certificate for its host names and IP addresses, and every
client (DUs, the ingest worker, browsers of the referente, other platforms) is given ``ca.pem`` to trust.
On the public internet use a certificate from a public CA (e.g. ACME/Let's Encrypt) and skip the CA step.

Choices: ECDSA P-256 keys, SHA-256 signatures, server certificates valid 397 days (the CA/Browser Forum
maximum), the CA 10 years; TLS 1.2 is the minimum on every listener. Private keys are written mode 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_DAYS = 397
CA_DAYS = 3650


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def make_ca(directory: Path | str, name: str = "condivisa local CA", *, days: int = CA_DAYS) -> CertFiles:
    """A self-signed CA (``ca.pem``, ``ca.key``) in ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    # the machine's real time, not condivisa.kernel.clock: TLS peers check validity against their own real
    # clocks
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    files = CertFiles(d / "ca.pem", d / "ca.key")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, files.key)
    return files


def make_server_cert(
    ca: CertFiles, directory: Path | str, hosts: list[str], *, name: str = "server", days: int = SERVER_DAYS
) -> CertFiles:
    """A server certificate ``<name>.pem``/``<name>.key`` signed by ``ca`` for ``hosts`` (DNS names or IP
    addresses, all put in subjectAltName, which is what TLS clients check)."""
    if not hosts:
        raise ValueError("a server certificate needs at least one host name or IP address")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    if not isinstance(ca_key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):  # signing with SHA-256
        raise ValueError(f"{ca.key}: the CA key must be an EC or RSA key (make_ca makes EC keys)")
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for h in hosts:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            alt.append(x509.DNSName(h))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = CertFiles(d / f"{name}.pem", d / f"{name}.key")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, files.key)
    return files


def mosquitto_tls_listener(ca: Path, server: CertFiles, *, port: int = 8883, host: str | None = None) -> str:
    """Mosquitto 2 lines for an MQTT-over-TLS listener (append to the file of ``condivisa mqtt-acl``)."""
    return "\n".join(
        [
            f"listener {port}" + (f" {host}" if host else ""),
            f"cafile {ca}",
            f"certfile {server.cert}",
            f"keyfile {server.key}",
            "tls_version tlsv1.2",
            "",
        ]
    )


def uvicorn_ssl_kwargs(server: CertFiles) -> dict[str, str]:
    """Keyword arguments of ``uvicorn.run`` / ``uvicorn.Config`` serving HTTPS with ``server``."""
    return {"ssl_certfile": str(server.cert), "ssl_keyfile": str(server.key)}


def client_context(cafile: Path | str | None = None) -> ssl.SSLContext:
    """A client TLS context that verifies the server against ``cafile`` (or the system CAs, which honour
    ``$SSL_CERT_FILE``), checks the host name and refuses anything below TLS 1.2."""
    ctx = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx
