"""A local certificate authority and a server certificate for a closed network.

Browsers give web pages the camera and microphone only over HTTPS (localhost excepted), and a
provincial network has no public CA. ``diemcau gen-cert`` makes a CA once (kept, so kiosks
install it once) and a server certificate for the names and addresses the kiosks use, with the
``cryptography`` package. Private keys are written 0600.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 10 * 365
SERVER_DAYS = 397  # browsers refuse server certificates valid for longer


@dataclass(frozen=True)
class Issued:
    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path
    ca_created: bool
    names: tuple[str, ...]


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Điểm cầu"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _alt_names(names: tuple[str, ...]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _ca(folder: Path, now: datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, bool]:
    cert_path, key_path = folder / "ca.pem", folder / "ca.key"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path} is not the key this command makes")
        return cert, key, False
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name("Điểm cầu — CA nội bộ")
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
    _write_private(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key, True


def issue(folder: Path, names: tuple[str, ...], now: datetime | None = None) -> Issued:
    """The CA in ``folder`` (made on first use) and a new server certificate for ``names``
    (host names and IP addresses)."""
    if not names:
        raise ValueError("name at least one host name or address the kiosks use")
    now = now or datetime.now(UTC)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_cert, ca_key, created = _ca(folder, now)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=SERVER_DAYS))
        .add_extension(_alt_names(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    _write_private(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Issued(folder / "ca.pem", folder / "ca.key", cert_path, key_path, created, names)


def install_guide(issued: Issued) -> str:
    """What to do next, printed by ``diemcau gen-cert``."""
    return f"""Certificate for {", ".join(issued.names)}:
  server certificate: {issued.cert}
  server key:         {issued.key}
  local CA:           {issued.ca_cert}{"  (new)" if issued.ca_created else "  (kept)"}

Use it: set in the settings file
  tls_cert = "{issued.cert}"
  tls_key = "{issued.key}"
  public_url = "https://{issued.names[0]}:8443"   (the address kiosks open)
or DIEMCAU_TLS_CERT / DIEMCAU_TLS_KEY / DIEMCAU_PUBLIC_URL, then `diemcau serve --port 8443`.

Install the CA once on every kiosk and staff computer (never the CA key, which stays here):
  Debian or Ubuntu, for Chromium (per user):
    sudo apt-get install -y libnss3-tools
    certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n "Diem cau CA" -i ca.pem
  Debian or Ubuntu, system-wide:
    sudo cp ca.pem /usr/local/share/ca-certificates/diemcau-ca.crt && sudo update-ca-certificates
  Windows (administrator):  certutil -addstore Root ca.pem
"""
