"""Ed25519 keys that sign model cards, and the keys a machine trusts.

Why Ed25519 (``cryptography``) and not HMAC-SHA256: a district office, the scoring service and an
auditor must *check* a model, but only the team that trains and releases models may *make* one.
With an HMAC every machine that can check a model holds the secret that forges one; with a
signature they hold only the public key. Ed25519 keys are small (32 bytes), signing is
deterministic, and ``cryptography`` is already installed (MLflow needs it).

Files (PEM, readable by ``openssl pkey``)::

    <home>/keys/model_signing.key      private key (0600): `targeting models keygen` makes it
    <home>/keys/model_signing.pub      its public key, to give to the machines that serve models
    <home>/keys/trusted/*.pub          public keys this machine trusts (copy a signer's .pub here)

A key is named by its fingerprint, ``ed25519:`` + the first 16 hex digits of the SHA-256 of its
raw 32 bytes; every decision records the fingerprint of the key that signed its model.

Trusted keys: the project's release key shipped with the package (it signs the default model),
``<home>/keys/trusted/*.pub``, the files or folders in ``$TARGETING_MODEL_TRUSTED_KEYS``
(separated by ``os.pathsep``), and the public half of this machine's own signing key. The signing
key is ``$TARGETING_MODEL_SIGNING_KEY`` if set, else ``<home>/keys/model_signing.key`` if it exists.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from targeting.errors import ModelIntegrityError

__all__ = [
    "SIGNING_KEY_ENV",
    "TRUSTED_KEYS_ENV",
    "TrustedKeys",
    "default_signing_key",
    "fingerprint",
    "generate_signing_key",
    "load_private_key",
    "load_public_key",
    "trusted_keys",
]

SIGNING_KEY_ENV = "TARGETING_MODEL_SIGNING_KEY"
TRUSTED_KEYS_ENV = "TARGETING_MODEL_TRUSTED_KEYS"
ALGORITHM = "ed25519"


def fingerprint(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """``ed25519:`` + 16 hex digits of the SHA-256 of the raw public key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{ALGORITHM}:{hashlib.sha256(raw).hexdigest()[:16]}"


def _home() -> Path:
    from targeting.settings import get_settings

    return get_settings().home


def keys_dir(home: Path | None = None) -> Path:
    return (home or _home()) / "keys"


def generate_signing_key(path: Path | None = None, *, home: Path | None = None) -> tuple[Path, Path]:
    """Create a new private key (0600) and its ``.pub`` beside it; refuse to overwrite either."""
    path = Path(path) if path is not None else keys_dir(home) / "model_signing.key"
    pub = path.with_suffix(".pub")
    for p in (path, pub):
        if p.exists():
            raise ModelIntegrityError(
                f"{p} exists: a signing key is never overwritten (models signed with it would stop "
                "verifying); move it away first if you really mean to replace it"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    # Created 0600 from the start: never world-readable, not even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    return path, pub


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """A PEM Ed25519 private key; a clear error for anything else."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ModelIntegrityError(f"{path}: not a readable PEM private key ({type(exc).__name__})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ModelIntegrityError(f"{path}: not an Ed25519 key (make one with `targeting models keygen`)")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A PEM Ed25519 public key; a clear error for anything else."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise ModelIntegrityError(f"{path}: not a readable PEM public key ({type(exc).__name__})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ModelIntegrityError(f"{path}: not an Ed25519 public key")
    return key


def default_signing_key(home: Path | None = None) -> Ed25519PrivateKey | None:
    """The signing key: ``$TARGETING_MODEL_SIGNING_KEY``, else the state folder's, else None."""
    env = os.environ.get(SIGNING_KEY_ENV)
    if env:
        return load_private_key(Path(env))
    path = keys_dir(home) / "model_signing.key"
    return load_private_key(path) if path.exists() else None


@dataclass(frozen=True)
class TrustedKeys:
    """Public keys by fingerprint, and where each came from (for error messages)."""

    keys: dict[str, Ed25519PublicKey]
    sources: dict[str, str]

    def verify(self, key_fingerprint: str, signature: bytes, data: bytes) -> bool:
        """True when the trusted key ``key_fingerprint`` signed ``data``; False for a bad signature."""
        key = self.keys[key_fingerprint]
        try:
            key.verify(signature, data)
        except InvalidSignature:
            return False
        return True


def _pub_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.pub")) if path.is_dir() else [path] if path.is_file() else []


def trusted_keys(home: Path | None = None) -> TrustedKeys:
    """Every key this machine trusts to sign models (see the module docstring)."""
    from importlib import resources

    keys: dict[str, Ed25519PublicKey] = {}
    sources: dict[str, str] = {}

    def add(key: Ed25519PublicKey, source: str) -> None:
        fp = fingerprint(key)
        keys.setdefault(fp, key)
        sources.setdefault(fp, source)

    shipped = resources.files("targeting.shipped").joinpath("keys")
    if shipped.is_dir():
        for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".pub"):
                add(load_public_key(Path(str(entry))), f"shipped {entry.name}")
    folder = keys_dir(home)
    for path in _pub_files(folder / "trusted"):
        add(load_public_key(path), str(path))
    for part in filter(None, os.environ.get(TRUSTED_KEYS_ENV, "").split(os.pathsep)):
        for path in _pub_files(Path(part)):
            add(load_public_key(path), str(path))
    own = default_signing_key(home)
    if own is not None:
        add(own.public_key(), "this machine's signing key")
    return TrustedKeys(keys, sources)
