"""API keys with roles, stored hashed.

A key reads ``tgk_<id>_<secret>``: the id (8 hex digits) finds the stored row; the whole key is
checked against its salted scrypt hash. The plain key is shown once, when created, and never
stored or logged. Roles: ``scorer`` may score, ``inspector`` may read decision histories,
``analyst`` may read the model card.

scrypt costs tens of milliseconds by design; so that every request does not pay it, a process
remembers the SHA-256 of keys it has already verified (never the key). Revocation is still read
from the store on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from api.store import ApiKeyRow, add_api_key, get_api_key, utc_now

Role = Literal["scorer", "inspector", "analyst"]
ROLES: tuple[Role, ...] = ("scorer", "inspector", "analyst")
PREFIX = "tgk"
SCHEME = "scrypt:n=16384,r=8,p=1"
_KEY_RE = re.compile(r"^tgk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key id (safe to log and store) and its role."""

    key_id: str
    role: Role


def hash_key(key: str, salt: bytes) -> str:
    """Salted scrypt hash of a whole key, hex."""
    return hashlib.scrypt(key.encode("ascii"), salt=salt, n=16384, r=8, p=1, dklen=32).hex()


def create_key(session: Session, role: str, *, label: str = "") -> tuple[str, str]:
    """Store a new key's hash; return ``(key_id, key)``. The key itself cannot be recovered later."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    key_id = secrets.token_hex(4)
    while get_api_key(session, key_id) is not None:  # 1 in 4 billion, but ids must be unique
        key_id = secrets.token_hex(4)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    salt = secrets.token_bytes(16)
    add_api_key(session, ApiKeyRow(id=key_id, key_hash=hash_key(key, salt), salt=salt.hex(), scheme=SCHEME,
                                   role=role, label=label, created_at=utc_now(), revoked=False))
    return key_id, key


class KeyVerifier:
    """Checks presented keys against the store (thread-safe; one per app)."""

    def __init__(self) -> None:
        self._verified: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def verify(self, session: Session, presented: str | None) -> Principal | None:
        """The caller's principal, or None for a missing, malformed, unknown, wrong or revoked key."""
        if not presented:
            return None
        match = _KEY_RE.fullmatch(presented)
        if match is None:
            return None
        key_id = match.group(1)
        row = get_api_key(session, key_id)
        if row is None or row.revoked or row.role not in ROLES or row.scheme != SCHEME:
            return None
        digest = hashlib.sha256(presented.encode("ascii")).digest()
        with self._lock:
            known = self._verified.get(key_id)
        if known is None or not hmac.compare_digest(known, digest):
            if not hmac.compare_digest(hash_key(presented, bytes.fromhex(row.salt)), row.key_hash):
                return None
            with self._lock:
                self._verified[key_id] = digest
        return Principal(key_id=key_id, role=row.role)
