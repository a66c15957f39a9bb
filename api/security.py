"""API keys with roles, stored hashed.

A key reads ``tgk_<id>_<secret>``: the id (8 hex digits) finds the stored row; the whole key is
checked against its salted scrypt hash. The plain key is shown once, when created, and never
stored or logged. Roles: ``scorer`` may score, ``inspector`` may read decision histories,
``analyst`` may read the model card, ``officer`` (a Dinsos or village officer) may file grievances
and read the histories of the households they handle; a ``scorer`` may also file grievances (the
field application that scores also carries the appeals).

scrypt costs tens of milliseconds by design; so that every request does not pay it, a process
remembers the SHA-256 of keys it has already verified (never the key). Revocation is still read
from the store on every request.

A wrong key costs the same whether its id exists or not (an unknown or revoked id is hashed
against a dummy, so the answer time does not tell which ids exist), and each client may fail only
`FailureLimiter.max_failures` times per window before it is answered 429 without any hashing: a
stream of wrong keys cannot keep the CPU busy. At most ``max_concurrent_hashes`` scrypt runs at a
time (each takes 16 MB). Behind a reverse proxy, run uvicorn with ``--proxy-headers`` and
``--forwarded-allow-ips`` so that the client address is the caller's, not the proxy's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from api.store import ApiKeyRow, add_api_key, get_api_key, utc_now

Role = Literal["scorer", "inspector", "analyst", "officer"]
ROLES: tuple[Role, ...] = ("scorer", "inspector", "analyst", "officer")
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


class FailureLimiter:
    """Failed authentications per client in a sliding window; memory bounded by ``max_clients``."""

    def __init__(self, max_failures: int = 10, window_s: float = 60.0, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_clients = max_clients
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.get(client)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None when it may try now."""
        with self._lock:
            now = self._clock()
            times = self._recent(client, now)
            if len(times) < self.max_failures:
                return None
            return max(1, int(times[0] + self.window_s - now + 0.999))

    def record_failure(self, client: str) -> None:
        with self._lock:
            now = self._clock()
            times = self._recent(client, now)
            times.append(now)
            self._failures[client] = times
            self._failures.move_to_end(client)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)  # the least recently failing client


class KeyVerifier:
    """Checks presented keys against the store (thread-safe; one per app)."""

    def __init__(self, max_concurrent_hashes: int = 2) -> None:
        self._verified: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._hashing = threading.BoundedSemaphore(max_concurrent_hashes)
        # What an unknown id is checked against: the same scrypt work as a known one.
        self._dummy_salt = secrets.token_bytes(16)
        self._dummy_hash = hash_key(f"{PREFIX}_00000000_{'A' * 43}", self._dummy_salt)

    def _scrypt_matches(self, presented: str, salt: bytes, expected: str) -> bool:
        with self._hashing:
            return hmac.compare_digest(hash_key(presented, salt), expected)

    def verify(self, session: Session, presented: str | None) -> Principal | None:
        """The caller's principal, or None for a missing, malformed, unknown, wrong or revoked key."""
        if not presented:
            return None
        match = _KEY_RE.fullmatch(presented)
        if match is None:
            return None
        key_id = match.group(1)
        row = get_api_key(session, key_id)
        usable = row is not None and not row.revoked and row.role in ROLES and row.scheme == SCHEME
        digest = hashlib.sha256(presented.encode("ascii")).digest()
        with self._lock:
            known = self._verified.get(key_id) if usable else None
        if known is not None and hmac.compare_digest(known, digest):
            assert row is not None
            return Principal(key_id=key_id, role=row.role)  # type: ignore[arg-type]
        if row is None or not usable:
            # Unknown or unusable id: the same scrypt cost as a wrong secret for a real one.
            self._scrypt_matches(presented, self._dummy_salt, self._dummy_hash)
            return None
        if not self._scrypt_matches(presented, bytes.fromhex(row.salt), row.key_hash):
            return None
        with self._lock:
            self._verified[key_id] = digest
        return Principal(key_id=key_id, role=row.role)  # type: ignore[arg-type]
