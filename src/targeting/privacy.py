"""Keyed pseudonyms for personal identifiers (UU 27/2022): NIK and KK numbers never leave in clear.

A pseudonym is ``p`` + 16 hex digits of HMAC-SHA256(key, identifier). The key decides whether a
household's decisions can be followed over the years, so it is handled as data that must not be
lost or swapped silently:

* ``$TARGETING_PSEUDONYM_KEY`` (hex), else ``<home>/pseudonym.key`` (hex, created 0600 once, with
  ``<home>/pseudonym.key.id`` holding its fingerprint). A key shorter than 32 bytes is refused:
  with a short key the pseudonyms of all 10^16 NIKs can be tried offline.
* A missing key file is created only for a new state folder: if ``pseudonym.key.id`` says a key
  existed, or the caller knows a decision store holds pseudonyms (``create=False``), it is an error
  naming what was lost, never a new key that silently orphans every stored history.
* Rotation (`rotate_key`, ``targeting pseudonym-key rotate``) moves the current key to
  ``<home>/pseudonym_keys/<fingerprint>.key`` and makes a new one; lookups try every key so a
  household's history stays whole, while new pseudonyms no longer depend on the old key.

A key's fingerprint is an HMAC of a fixed label under the key: it identifies a key (stores record
it and refuse another) and reveals nothing that helps to find it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from targeting.errors import TargetingError

if TYPE_CHECKING:
    import pyarrow as pa

KEY_ENV = "TARGETING_PSEUDONYM_KEY"
KEY_FILE = "pseudonym.key"
KEY_ID_FILE = "pseudonym.key.id"
RETIRED_DIR = "pseudonym_keys"
#: HMAC-SHA256 keys shorter than its block output make offline guessing of all NIKs feasible.
MIN_KEY_BYTES = 32
_FINGERPRINT_LABEL = b"targeting/pseudonym-key-fingerprint/v1"


class PseudonymKeyError(TargetingError):
    """The pseudonymisation key is missing, malformed, too short or not the one the data was made with."""


def key_fingerprint(key: bytes) -> str:
    """``hmac-sha256:`` + 16 hex digits identifying ``key`` (safe to store and log)."""
    return "hmac-sha256:" + hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


def _parse_key(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError as exc:
        raise PseudonymKeyError(
            f"{where}: kunci samaran rusak / the pseudonymisation key is not hexadecimal text "
            "(64 hex digits expected); restore it from your backup"
        ) from exc
    if len(key) < MIN_KEY_BYTES:
        raise PseudonymKeyError(
            f"{where}: kunci samaran terlalu pendek / the pseudonymisation key has {len(key)} bytes; "
            f"at least {MIN_KEY_BYTES} are needed (64 hex digits), or pseudonyms can be reversed by "
            "trying every NIK"
        )
    return key


def write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 from the start (never readable by others, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def load_key(state_dir: Path, *, create: bool = True) -> bytes:
    """The pseudonymisation key: ``$TARGETING_PSEUDONYM_KEY`` (hex), else ``state_dir/pseudonym.key``.

    ``create=False`` when pseudonyms made with a key already exist somewhere (a decision store):
    a missing key is then an error instead of a new key.
    """
    env = os.environ.get(KEY_ENV)
    if env is not None:
        return _parse_key(env, KEY_ENV)
    path = Path(state_dir) / KEY_FILE
    id_path = Path(state_dir) / KEY_ID_FILE
    if path.exists():
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise PseudonymKeyError(f"{path}: unreadable pseudonymisation key ({type(exc).__name__})"
                                    ) from exc
        key = _parse_key(text, str(path))
        if id_path.exists() and id_path.read_text(encoding="ascii").strip() != key_fingerprint(key):
            raise PseudonymKeyError(
                f"{path}: this is not the key the state folder was made with ({id_path} says "
                f"{id_path.read_text(encoding='ascii').strip()}); restore the original key file"
            )
        return key
    if id_path.exists():
        known = id_path.read_text(encoding="ascii").strip()
        raise PseudonymKeyError(
            f"{path}: kunci samaran hilang / the pseudonymisation key {known} is missing; restore it "
            "from your backup (a new key would make every stored pseudonym "
            "unmatchable). Nothing was written"
        )
    if not create:
        raise PseudonymKeyError(
            f"{path}: kunci samaran hilang / the pseudonymisation key is missing, but the decision store "
            "already holds pseudonyms made with a key; restore the key file or set "
            f"{KEY_ENV} (a new key would orphan every stored history)"
        )
    key = secrets.token_bytes(32)
    write_private(path, key.hex().encode("ascii"))
    id_path.write_text(key_fingerprint(key) + "\n", encoding="ascii")
    return key


def retired_keys(state_dir: Path) -> dict[str, bytes]:
    """Keys used before a rotation, by fingerprint (``<home>/pseudonym_keys/*.key``)."""
    folder = Path(state_dir) / RETIRED_DIR
    out: dict[str, bytes] = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*.key")):
            key = _parse_key(path.read_text(encoding="ascii"), str(path))
            out[key_fingerprint(key)] = key
    return out


def rotate_key(state_dir: Path) -> tuple[bytes, bytes]:
    """Retire the current key file to ``pseudonym_keys/`` and create a new one; ``(old, new)``.

    Only a key kept in the state folder can be rotated here; with ``$TARGETING_PSEUDONYM_KEY`` the
    operator rotates it where it is managed.
    """
    if os.environ.get(KEY_ENV) is not None:
        raise PseudonymKeyError(
            f"the key comes from {KEY_ENV}: rotate it where it is managed: put the old key into "
            f"<home>/{RETIRED_DIR}/<any name>.key (hex, 0600) and set the new one; the decision store "
            "records the new key at the next start because the old one is still at hand"
        )
    state_dir = Path(state_dir)
    old = load_key(state_dir, create=False)
    new = secrets.token_bytes(32)
    retired = state_dir / RETIRED_DIR / f"{key_fingerprint(old).split(':')[1]}.key"
    if not retired.exists():
        write_private(retired, old.hex().encode("ascii"))
    pending = state_dir / f"{KEY_FILE}.new"
    pending.unlink(missing_ok=True)
    write_private(pending, new.hex().encode("ascii"))
    os.replace(pending, state_dir / KEY_FILE)  # atomic: the key file is always one whole key
    (state_dir / KEY_ID_FILE).write_text(key_fingerprint(new) + "\n", encoding="ascii")
    return old, new


def pseudonym_array(texts: pa.Array | pa.ChunkedArray, key: bytes, *, prefix: str = "p") -> pa.Array:
    """Pseudonyms of an Arrow text array: HMAC-SHA256(key, text), first 16 hex digits, after ``prefix``.

    Hashed from the array's own UTF-8 bytes in one compiled loop (`targeting._hmac_sha256`), so a
    registry's pseudonyms cost no Python object per household; a missing text stays missing.
    """
    import pyarrow as pa

    from targeting._hmac_sha256 import hmac_hex16

    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    texts = texts.cast(pa.large_string())
    n = len(texts)
    _, offsets_buf, data_buf = texts.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[texts.offset:texts.offset + n + 1] \
        if offsets_buf is not None else np.zeros(n + 1, dtype=np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, dtype=np.uint8)
    valid = texts.is_valid().to_numpy(zero_copy_only=False)
    head = prefix.encode("utf-8")
    rows = np.empty((n, len(head) + 16), dtype=np.uint8)
    rows[:, :len(head)] = np.frombuffer(head, dtype=np.uint8)
    rows[:, len(head):] = hmac_hex16(data, offsets, valid, key)
    width = rows.shape[1]
    bounds = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    nulls = None if texts.null_count == 0 else pa.array(valid).buffers()[1]
    return pa.Array.from_buffers(pa.large_string(), n, [nulls, pa.py_buffer(bounds), pa.py_buffer(rows)],
                                 null_count=texts.null_count)


def pseudonym_texts(texts: Iterable[str], key: bytes, *, prefix: str = "p") -> list[str]:
    """The pseudonyms of identifiers (as `pseudonym_array`)."""
    import pyarrow as pa

    return pseudonym_array(pa.array(list(texts), type=pa.large_string()), key, prefix=prefix).to_pylist()


def pseudonymize(values: pd.Series, key: bytes, *, prefix: str = "p") -> pd.Series:
    """HMAC-SHA256 pseudonyms (first 16 hex digits), stable for a key; missing stays missing."""
    import pyarrow as pa

    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        texts = pa.array(values.array)
    else:  # numbers, objects: their text, as str() writes it
        mask = values.notna().to_numpy()
        made = values[mask].astype(str).tolist()
        out = np.full(len(values), None, dtype=object)
        out[mask] = made
        texts = pa.array(out, type=pa.large_string())
    made_array = pseudonym_array(texts, key, prefix=prefix)
    return pd.Series(pd.StringDtype().__from_arrow__(made_array), index=values.index)


def pseudonym(value: str, key: bytes, *, prefix: str = "p") -> str:
    """The pseudonym of one identifier (as `pseudonymize`)."""
    return pseudonym_texts([value], key, prefix=prefix)[0]


def redact(value: object) -> str:
    """What a log or rejects file shows instead of a personal identifier."""
    text = "" if value is None else str(value)
    return f"<disamarkan: {len(text)} karakter>"
