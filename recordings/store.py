"""Where recordings live: one root, ``<case>/<meeting>/…``, files created exclusively with mode
0600 and never overwritten, hashed when they close, and described by signed manifests.

The manifest signature is Ed25519 with a key derived from ``signing.key`` (generated at first
run); ``diemcau verify`` re-hashes every file and checks every manifest against it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

CHUNK = 1 << 20


class UnsafePath(Exception):
    """A relative path that would leave the recordings root."""


def slug(text: str, fallback: str = "x") -> str:
    """ASCII file-name part: Vietnamese letters lose their marks, everything else becomes '-'."""
    text = text.replace("đ", "d").replace("Đ", "D")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-").lower()
    return cleaned[:60] or fallback


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class ManifestCheck:
    path: str
    signature_ok: bool
    problems: tuple[str, ...]
    # (path, sha256) of every file the manifest lists: what a valid signature vouches for.
    covers: frozenset[tuple[str, str]] = frozenset()


class RecordingStore:
    def __init__(self, root: Path, signing_key: bytes) -> None:
        self.root = root.resolve()
        self._private = Ed25519PrivateKey.from_private_bytes(
            hashlib.sha256(b"diemcau-manifest\x00" + signing_key).digest()
        )
        self.public_key: Ed25519PublicKey = self._private.public_key()

    def sign(self, data: bytes) -> bytes:
        """A raw Ed25519 signature (64 bytes) with the server's signing key."""
        return self._private.sign(data)

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    # ---- paths -------------------------------------------------------------------------

    def meeting_dir(self, case_reference: str | None, meeting_reference: str) -> str:
        return f"{slug(case_reference or 'chua-gan-vu-viec')}/{slug(meeting_reference)}"

    def resolve(self, relative: str) -> Path:
        """The absolute path of a stored file; refuses anything outside the root."""
        if not relative or relative.startswith("/") or "\\" in relative or "\x00" in relative:
            raise UnsafePath(relative)
        path = (self.root / relative).resolve()
        if path != self.root and self.root not in path.parents:
            raise UnsafePath(relative)
        return path

    def create(self, relative_dir: str, stem: str, suffix: str) -> tuple[str, BinaryIO]:
        """Create a new file exclusively (never an existing one), mode 0600, and open it."""
        directory = self.resolve(relative_dir)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        for n in range(1, 1000):
            name = f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}"
            relative = f"{relative_dir}/{name}"
            try:
                fd = os.open(self.resolve(relative), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            return relative, os.fdopen(fd, "wb")
        raise FileExistsError(f"no free name for {relative_dir}/{stem}{suffix}")

    def hash(self, relative: str) -> tuple[str, int]:
        return sha256_file(self.resolve(relative))

    # ---- manifests --------------------------------------------------------------------------

    @staticmethod
    def canonical(manifest: Mapping[str, Any]) -> bytes:
        return json.dumps(
            manifest, sort_keys=True, ensure_ascii=False, separators=(",", ":")
        ).encode()

    def write_manifest(self, relative_dir: str, manifest: Mapping[str, Any]) -> str:
        """Write a new manifest and its detached signature (``.sig``); returns its path."""
        body = self.canonical(manifest)
        relative, fh = self.create(relative_dir, "manifest", ".json")
        signature = base64.b64encode(self._private.sign(body))
        try:
            with fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            sig_fd = os.open(
                self.resolve(relative + ".sig"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
            )
            with os.fdopen(sig_fd, "wb") as sig:
                sig.write(signature + b"\n")
                sig.flush()
                os.fsync(sig.fileno())
        except OSError:
            # A full disk must not leave half a manifest that looks like evidence.
            for leftover in (relative, relative + ".sig"):
                with contextlib.suppress(OSError):
                    self.resolve(leftover).unlink()
            raise
        return relative

    def manifests(self) -> Iterator[str]:
        for path in sorted(self.root.rglob("manifest*.json")):
            yield str(path.relative_to(self.root))

    def check_manifest(self, relative: str) -> ManifestCheck:
        """Signature, and every file it lists: present and with the same SHA-256."""
        problems: list[str] = []
        path = self.resolve(relative)
        body = path.read_bytes()
        try:
            signature = base64.b64decode(self.resolve(relative + ".sig").read_bytes().strip())
            self.public_key.verify(signature, body)
            signature_ok = True
        except (FileNotFoundError, InvalidSignature, ValueError):
            signature_ok = False
            problems.append(f"{relative}: signature missing or not valid")
        try:
            manifest = json.loads(body)
        except ValueError:
            return ManifestCheck(relative, signature_ok, (*problems, f"{relative}: not JSON"))
        # A file still being written when the manifest was signed has no hash in it yet: a
        # later manifest vouches for it.
        vouched = [e for e in manifest.get("files", []) if isinstance(e.get("sha256"), str)]
        covers = frozenset((str(e.get("path", "")), e["sha256"]) for e in vouched if signature_ok)
        for entry in vouched:
            file_path = entry.get("path", "")
            if entry.get("status") == "deleted":
                continue
            try:
                digest, _ = self.hash(file_path)
            except (FileNotFoundError, UnsafePath):
                problems.append(f"{file_path}: missing")
                continue
            if digest != entry.get("sha256"):
                problems.append(f"{file_path}: altered (hash differs)")
        return ManifestCheck(relative, signature_ok, tuple(problems), covers)
