"""The protected store for a denouncer's identity: encrypted with its own key, never shown,
exported or logged; only a cleared role may read it (every read audited, see ``sessions.cases``)."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass

from cryptography.fernet import Fernet, InvalidToken


@dataclass(frozen=True)
class ProtectedIdentity:
    full_name: str
    address: str = ""
    id_number: str = ""
    phone: str = ""


class IdentityVault:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("identity key must be 32 bytes")
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, identity: ProtectedIdentity) -> bytes:
        return self._fernet.encrypt(json.dumps(asdict(identity), ensure_ascii=False).encode())

    def open(self, token: bytes) -> ProtectedIdentity:
        try:
            data = json.loads(self._fernet.decrypt(token))
        except InvalidToken as exc:
            raise ValueError("protected identity cannot be decrypted with this key") from exc
        return ProtectedIdentity(**data)
