"""Keyed pseudonyms for personal identifiers (UU 27/2022): NIK and KK numbers never leave in clear."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import numpy as np
import pandas as pd

KEY_ENV = "TARGETING_PSEUDONYM_KEY"


def load_key(state_dir: Path) -> bytes:
    """The pseudonymisation key: ``$TARGETING_PSEUDONYM_KEY`` (hex), else ``state_dir/pseudonym.key``.

    The key file is created once with 32 random bytes and kept: pseudonyms must stay stable for years so
    that decision histories can be followed. Lose it and old pseudonyms can no longer be matched.
    """
    env = os.environ.get(KEY_ENV)
    if env:
        return bytes.fromhex(env)
    path = state_dir / "pseudonym.key"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32), encoding="ascii")
        path.chmod(0o600)
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def pseudonymize(values: pd.Series, key: bytes, *, prefix: str = "p") -> pd.Series:
    """HMAC-SHA256 pseudonyms (first 16 hex digits), stable for a key; missing stays missing."""
    out = np.full(len(values), None, dtype=object)
    mask = values.notna().to_numpy()
    texts = values[mask].astype(str).to_numpy()
    # One HMAC per identifier; hashlib is C code, so 260,000 ids take well under a second.
    out[mask] = [
        prefix + hmac.new(key, t.encode("utf-8"), hashlib.sha256).hexdigest()[:16] for t in texts
    ]
    return pd.Series(out, index=values.index, dtype="string")


def redact(value: object) -> str:
    """What a log or rejects file shows instead of a personal identifier."""
    text = "" if value is None else str(value)
    return f"<disamarkan: {len(text)} karakter>"
