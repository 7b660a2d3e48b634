"""A case file (hồ sơ vụ việc) as one archive anyone can check without our software.

The ZIP holds the files, ``SHA256SUMS`` (``sha256sum`` format, one line per file),
``SHA256SUMS.sig`` (a raw Ed25519 signature of that list by the server's signing key),
``signing-public.pem`` (the key's public half; compare its fingerprint with the one the office
publishes) and a ``README.txt`` saying how to check it with ``sha256sum -c`` and ``openssl``.
``verify`` does the same checks and names every file that fails.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from recordings.store import RecordingStore

SUMS, SIGNATURE, PUBLIC_KEY, README = (
    "SHA256SUMS",
    "SHA256SUMS.sig",
    "signing-public.pem",
    "README.txt",
)
CHUNK = 1024 * 1024

GUIDE = """HỒ SƠ VỤ VIỆC {case} — CASE FILE {case}
Xuất lúc / exported at: {at}

Kiểm tra hồ sơ không cần phần mềm Điểm cầu / Checking this file without our software:

1. Giải nén / unpack:            unzip {name} -d hoso && cd hoso
2. Mã băm từng tệp / each file:  sha256sum -c SHA256SUMS
   (mỗi dòng phải là "OK" / every line must say OK)
3. Chữ ký danh sách / the list's signature (OpenSSL 3):
   openssl pkeyutl -verify -pubin -inkey signing-public.pem -rawin \\
       -in SHA256SUMS -sigfile SHA256SUMS.sig
   (phải in "Signature Verified Successfully")
4. Khóa công khai / the public key: so dấu vân tay với dấu vân tay do cơ quan công bố
   (compare its fingerprint with the one the office publishes):
   openssl pkey -pubin -in signing-public.pem -outform DER | sha256sum
   Dấu vân tay của khóa này / this key's fingerprint: {fingerprint}

Nội dung / contents: index.json lists every file and what it is (minutes PDF/A and DOCX,
conclusion notices, recordings or their manifests, signed manifests, attendance, the case's
audit excerpt). Recording manifests carry their own Ed25519 signature (.sig, base64) by the
same key.
"""


@dataclass(frozen=True)
class Entry:
    """One file of the archive: its name inside, and its bytes or a file on disk."""

    name: str
    data: bytes | None = None
    source: Path | None = None
    compress: bool = True


def fingerprint(public_pem: bytes) -> str:
    key = serialization.load_pem_public_key(public_pem)
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def write(
    path: Path,
    entries: Iterable[Entry],
    store: RecordingStore,
    *,
    case_reference: str,
    exported_at: str,
) -> int:
    """Write the archive; returns how many files it lists."""
    sums: list[str] = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry in entries:
            _check_name(entry.name)
            digest = hashlib.sha256()
            mode = zipfile.ZIP_DEFLATED if entry.compress else zipfile.ZIP_STORED
            info = zipfile.ZipInfo(entry.name)
            info.compress_type = mode
            with archive.open(info, "w", force_zip64=True) as out:
                if entry.data is not None:
                    digest.update(entry.data)
                    out.write(entry.data)
                else:
                    assert entry.source is not None
                    with entry.source.open("rb") as fh:
                        while chunk := fh.read(CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
            sums.append(f"{digest.hexdigest()}  {entry.name}")
        listing = ("\n".join(sums) + "\n").encode()
        public = store.public_pem()
        archive.writestr(SUMS, listing)
        archive.writestr(SIGNATURE, store.sign(listing))
        archive.writestr(PUBLIC_KEY, public)
        archive.writestr(
            README,
            GUIDE.format(
                case=case_reference,
                at=exported_at,
                name=path.name,
                fingerprint=fingerprint(public),
            ),
        )
    return len(sums)


def _check_name(name: str) -> None:
    if not name or name.startswith("/") or ".." in name.split("/") or "\\" in name:
        raise ValueError(f"unsafe name in a case file: {name!r}")
    if name in (SUMS, SIGNATURE, PUBLIC_KEY, README):
        raise ValueError(f"reserved name in a case file: {name!r}")


def verify(path: Path, expected_public_pem: bytes | None = None) -> list[str]:
    """Every problem of a case file, each naming its file; empty when it checks."""
    problems: list[str] = []
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        return [f"{path.name}: not a readable archive ({exc})"]
    with archive:
        names = set(archive.namelist())
        for required in (SUMS, SIGNATURE, PUBLIC_KEY):
            if required not in names:
                problems.append(f"{required}: missing")
        if problems:
            return problems
        listing = archive.read(SUMS)
        public_pem = archive.read(PUBLIC_KEY)
        if expected_public_pem is not None and public_pem.strip() != expected_public_pem.strip():
            problems.append(f"{PUBLIC_KEY}: not this server's signing key")
        try:
            key = serialization.load_pem_public_key(public_pem)
            if not isinstance(key, Ed25519PublicKey):
                raise TypeError
            key.verify(archive.read(SIGNATURE), listing)
        except (ValueError, TypeError, InvalidSignature):
            problems.append(f"{SIGNATURE}: the signature of {SUMS} does not verify")
        listed: set[str] = set()
        for line in listing.decode(errors="replace").splitlines():
            digest, _, name = line.partition("  ")
            listed.add(name)
            if name not in names:
                problems.append(f"{name}: listed but missing")
                continue
            actual = hashlib.sha256()
            try:
                with archive.open(name) as fh:
                    while chunk := fh.read(CHUNK):
                        actual.update(chunk)
            except zipfile.BadZipFile:
                problems.append(f"{name}: damaged in the archive")
                continue
            if actual.hexdigest() != digest:
                problems.append(f"{name}: SHA-256 does not match {SUMS}")
        for name in sorted(names - listed - {SUMS, SIGNATURE, PUBLIC_KEY, README}):
            problems.append(f"{name}: not listed in {SUMS}")
    return problems
