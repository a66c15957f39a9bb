"""Save, sign and load PMT models without pickle: LightGBM text models, JSON coefficients, a JSON card.

A saved model is a directory::

    model_card.json          what the model is: features, data hash, validation, versions, files
    model_card.sig           Ed25519 signature of the card's exact bytes (`targeting.pmt.signing`)
    model.json               estimator parameters, input schema, ensemble weights, component index
    component_<name>.json    an OLS component (terms, fill values, means, coefficients)
    component_<name>.txt     a LightGBM component (``Booster.model_to_string``)
    reference.json           the training distribution that ranks new households (desil)

The card records the sha256 of every other file (the reference included), and the signature covers
the card: a changed file no longer matches its hash, and a card rewritten to match no longer matches
its signature. :func:`load_model` checks the signature against the keys this machine trusts, then
every hash, and refuses an unsigned, wrongly signed, untrusted, changed, missing or unlisted file
with :class:`targeting.errors.ModelIntegrityError` unless ``allow_unsigned=True`` (which still
checks the hashes and records that the model was not verified). Models are signed when saved if a
signing key is set up (`targeting.pmt.signing.default_signing_key`), or later with
:func:`sign_model` (``targeting models sign DIR``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from targeting.errors import ModelIntegrityError
from targeting.pmt.boosting import BoosterPMT
from targeting.pmt.estimator import PMTRegressor
from targeting.pmt.linear import LinearPMT
from targeting.pmt.schema import InputSchema
from targeting.pmt.signing import (
    ALGORITHM,
    TrustedKeys,
    default_signing_key,
    fingerprint,
    generate_signing_key,
    load_private_key,
    trusted_keys,
)

__all__ = [
    "CARD_FILE",
    "MODEL_FILE",
    "SIGNATURE_FILE",
    "FeatureCard",
    "Integrity",
    "ModelCard",
    "generate_signing_key",
    "load_model",
    "load_private_key",
    "save_model",
    "seal_model",
    "sign_model",
    "signing_key_fingerprint",
    "trusted_keys",
    "verify_model",
]

log = logging.getLogger(__name__)

CARD_FILE = "model_card.json"
SIGNATURE_FILE = "model_card.sig"
MODEL_FILE = "model.json"
REFERENCE_FILE = "reference.json"
SIGNATURE_FORMAT = 1
UNSIGNED = "unsigned"
FORMAT_VERSION = 1
# Estimator parameters whose default is a tuple (JSON turns them into lists).
_TUPLE_PARAMS = ("ensemble_members", "param_grid")


@dataclass(frozen=True)
class Integrity:
    """What `load_model` verified: the signing key's fingerprint, or why the model is unsigned."""

    signed: bool
    key_fingerprint: str | None
    card_sha256: str
    note: str = ""

    @property
    def label(self) -> str:
        """What a decision records: the key fingerprint, or ``unsigned``."""
        return self.key_fingerprint if self.signed and self.key_fingerprint else UNSIGNED


class FeatureCard(BaseModel):
    """One input feature as the model sees it."""

    model_config = ConfigDict(extra="forbid")
    name: str
    kind: str = Field(description="numeric | categorical (how the model reads it)")
    type: str | None = Field(default=None, description="numeric | binary | categorical (spec)")
    categories: list[Any] | None = None


class DatasetCard(BaseModel):
    """The training data, identified by name and content hash."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    spec: str | None = None
    sha256: str
    n_households: int


class ModelCard(BaseModel):
    """Everything a reviewer needs to know about a saved PMT, and the hash of every file."""

    model_config = ConfigDict(extra="forbid")
    format_version: int = FORMAT_VERSION
    backend: str
    target: str = "log per-capita welfare (natural log)"
    features: list[FeatureCard]
    dataset: DatasetCard
    training_date: str
    saved_at: str
    package_version: str
    git_commit: str | None
    params: dict[str, Any]
    best_params: dict[str, dict[str, Any]]
    ensemble_weights: dict[str, float]
    ensemble_intercept: float
    validation: list[dict[str, Any]] = Field(default_factory=list)
    files: dict[str, str] = Field(description="file name -> sha256 of its bytes")
    extra: dict[str, Any] = Field(default_factory=dict)
    _integrity: Integrity | None = PrivateAttr(default=None)

    @property
    def integrity(self) -> Integrity:
        """How this card was verified when loaded (unsigned for a card not loaded by `load_model`)."""
        return self._integrity or Integrity(signed=False, key_fingerprint=None, card_sha256="",
                                            note="not loaded from a folder")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _git_commit() -> str | None:
    """The commit of the package's checkout, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def _jsonable(value: Any) -> Any:
    """Parameters as JSON values (tuples become lists, numpy scalars become Python ones)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def save_model(
    model: PMTRegressor,
    directory: str | Path,
    *,
    dataset_name: str | None = None,
    dataset_spec: str | None = None,
    feature_types: dict[str, str] | None = None,
    validation: Any = None,
    card_extra: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``model`` into ``directory`` (created if needed) and return the card's path.

    ``validation`` may be a :class:`targeting.pmt.validation.ValidationResult`, its table, or
    records; ``feature_types`` are the spec's types (``SurveyData.feature_types``) for the card.
    """
    from sklearn.utils.validation import check_is_fitted

    import targeting

    check_is_fitted(model)
    out = Path(directory)
    if (out / CARD_FILE).exists() and not overwrite:
        raise FileExistsError(f"{out / CARD_FILE} exists; pass overwrite=True to replace the model")
    out.mkdir(parents=True, exist_ok=True)
    if overwrite:
        # The old model's files (components, reference, signature) belong to it, not to this one.
        for old in _folder_files(out):
            if old in (CARD_FILE, SIGNATURE_FILE, MODEL_FILE, REFERENCE_FILE) or old.startswith("component_"):
                (out / old).unlink()

    index: dict[str, dict[str, Any]] = {}
    for name, comp in model.components_.items():
        if isinstance(comp, LinearPMT):
            fname = f"component_{name}.json"
            _write(out / fname, json.dumps(comp.to_dict(), indent=1))
            index[name] = {"kind": "linear", "file": fname}
        else:
            fname = f"component_{name}.txt"
            _write(out / fname, comp.to_string())
            index[name] = {
                "kind": "lightgbm",
                "file": fname,
                "params": _jsonable(comp.params),
                "tuning": _jsonable(comp.tuning),
            }
    names_in = getattr(model, "feature_names_in_", None)
    state = {
        "format_version": FORMAT_VERSION,
        "estimator": "targeting.pmt.PMTRegressor",
        "params": _jsonable(model.get_params()),
        "schema": model.schema_.to_dict(),
        "feature_names_in": None if names_in is None else [str(n) for n in names_in],
        "weights": model.weights_,
        "intercept": model.intercept_,
        "components": index,
        "training_sha256": model.training_sha256_,
        "n_training_rows": model.n_training_rows_,
        "fitted_at": model.fitted_at_,
    }
    _write(out / MODEL_FILE, json.dumps(state, indent=1))

    files = [MODEL_FILE] + [entry["file"] for entry in index.values()]
    types = feature_types or {}
    if validation is not None and hasattr(validation, "records"):
        validation = validation.records()
    elif isinstance(validation, pd.DataFrame):
        validation = validation.astype(object).where(validation.notna(), None).to_dict("records")
    card = ModelCard(
        backend=model.backend,
        features=[
            FeatureCard(
                name=n,
                kind=k,
                # A column the spec did not type (e.g. the region design_frame adds) is categorical.
                type=types.get(n, "categorical" if k == "categorical" else None),
                categories=None if c is None else list(c),
            )
            for n, k, c in zip(
                model.schema_.names, model.schema_.kinds, model.schema_.categories, strict=True
            )
        ],
        dataset=DatasetCard(
            name=dataset_name,
            spec=dataset_spec,
            sha256=model.training_sha256_,
            n_households=model.n_training_rows_,
        ),
        training_date=model.fitted_at_,
        saved_at=datetime.now(UTC).isoformat(timespec="seconds"),
        package_version=targeting.__version__,
        git_commit=_git_commit(),
        params=_jsonable(model.get_params()),
        best_params=_jsonable(model.best_params_),
        ensemble_weights=dict(model.weights_),
        ensemble_intercept=float(model.intercept_),
        validation=_jsonable(list(validation or [])),
        files={f: _sha256(out / f) for f in files},
        extra=_jsonable(dict(card_extra or {})),
    )
    card_path = out / CARD_FILE
    _write(card_path, card.model_dump_json(indent=1))
    seal_model(out)
    return card_path


def _folder_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.is_file())


def _card_bytes(card: ModelCard) -> bytes:
    return (card.model_dump_json(indent=1)).encode("utf-8")


def _write_signature(directory: Path, card_bytes: bytes, key: Ed25519PrivateKey) -> str:
    fp = fingerprint(key)
    document = {
        "format": SIGNATURE_FORMAT,
        "algorithm": ALGORITHM,
        "key": fp,
        "card_sha256": hashlib.sha256(card_bytes).hexdigest(),
        "signed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "signature": base64.b64encode(key.sign(card_bytes)).decode("ascii"),
    }
    _write(directory / SIGNATURE_FILE, json.dumps(document, indent=1) + "\n")
    return fp


def _relist(directory: Path, card: ModelCard, *, rehash: bool) -> tuple[ModelCard, list[str]]:
    """The card listing every file of the folder; refuses a listed file that changed unless ``rehash``."""
    present = [f for f in _folder_files(directory) if f not in (CARD_FILE, SIGNATURE_FILE)]
    for name, digest in card.files.items():
        if name not in present:
            raise ModelIntegrityError(f"{directory / name}: listed in the model card but missing")
        if not rehash and _sha256(directory / name) != digest:
            raise ModelIntegrityError(
                f"{directory / name}: sha256 does not match the model card (changed since it was "
                "written); signing would bless the change: retrain, or pass --rehash if you made it"
            )
    added = [f for f in present if f not in card.files]
    files = {f: _sha256(directory / f) for f in present}
    return card.model_copy(update={"files": files}), added


def seal_model(directory: str | Path, key: Ed25519PrivateKey | None = None) -> Integrity:
    """List every file of a model folder in its card; sign it with ``key`` or this machine's key.

    Called by `save_model` and `targeting.pmt.reference.save_reference`. Without any signing key
    the card is left unsigned (and any old signature removed, as it no longer matches).
    """
    out = Path(directory)
    card = ModelCard.model_validate(_read_json(out / CARD_FILE))
    card, _ = _relist(out, card, rehash=False)
    data = _card_bytes(card)
    (out / CARD_FILE).write_bytes(data)
    key = key if key is not None else default_signing_key()
    if key is None:
        (out / SIGNATURE_FILE).unlink(missing_ok=True)
        return Integrity(False, None, hashlib.sha256(data).hexdigest(), "no signing key set up")
    return Integrity(True, _write_signature(out, data, key), hashlib.sha256(data).hexdigest())


def sign_model(directory: str | Path, key: Ed25519PrivateKey | str | Path, *,
               rehash: bool = False) -> tuple[Integrity, list[str]]:
    """Sign a model folder (``targeting models sign DIR``); return the result and the files added.

    Every file of the folder must be listed by the card with its current hash (a file the card
    does not list yet, such as ``reference.json``, is added); ``rehash`` accepts changed files.
    """
    out = Path(directory)
    if not (out / CARD_FILE).is_file():
        raise ModelIntegrityError(f"{out / CARD_FILE}: model card not found")
    private = key if isinstance(key, Ed25519PrivateKey) else load_private_key(Path(key))
    try:
        card = ModelCard.model_validate(_read_json(out / CARD_FILE))
    except ValidationError as exc:
        raise ModelIntegrityError(f"{out / CARD_FILE}: invalid model card ({exc.errors()[0]})") from exc
    card, added = _relist(out, card, rehash=rehash)
    data = _card_bytes(card)
    (out / CARD_FILE).write_bytes(data)
    fp = _write_signature(out, data, private)
    return Integrity(True, fp, hashlib.sha256(data).hexdigest()), added


def _verify_signature(src: Path, card_bytes: bytes, *, allow_unsigned: bool,
                      trusted: TrustedKeys | None) -> Integrity:
    """The card's signature against the trusted keys; unsigned/untrusted/wrong is refused unless allowed."""
    card_sha = hashlib.sha256(card_bytes).hexdigest()
    how = (f"sign it with `targeting models sign {src}` where the signing key is kept, or trust its "
           "signer's key (see `targeting models keygen --help`); --allow-unsigned uses it unverified")
    sig_path = src / SIGNATURE_FILE
    problem: str
    if not sig_path.is_file():
        problem = f"{src}: model tidak ditandatangani / the model is not signed (no {SIGNATURE_FILE}); {how}"
    else:
        try:
            sig = json.loads(sig_path.read_text(encoding="utf-8"))
            fp, signature = str(sig["key"]), base64.b64decode(sig["signature"], validate=True)
            if sig.get("algorithm") != ALGORITHM:
                raise ValueError(f"algorithm {sig.get('algorithm')!r}")
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            problem = f"{sig_path}: unreadable signature ({type(exc).__name__}: {exc}); {how}"
        else:
            keys = trusted if trusted is not None else trusted_keys()
            if fp not in keys.keys:
                problem = (f"{sig_path}: signed by key {fp}, which this machine does not trust (trusted: "
                           f"{', '.join(sorted(keys.keys)) or 'none'}); add the signer's .pub to "
                           f"<home>/keys/trusted/ or {how}")
            elif not keys.verify(fp, signature, card_bytes):
                problem = (f"{src / CARD_FILE}: tanda tangan tidak cocok / the signature does not match the "
                           f"card (changed after signing by {fp}); {how}")
            else:
                return Integrity(True, fp, card_sha)
    if not allow_unsigned:
        raise ModelIntegrityError(problem)
    log.warning("model used without a verified signature (allow_unsigned): %s", problem)
    return Integrity(False, None, card_sha, problem)


def signing_key_fingerprint(card: ModelCard) -> str:
    """What every decision records about its model's signature: the key fingerprint, or ``unsigned``."""
    return card.integrity.label


def verify_model(directory: str | Path, *, trusted: TrustedKeys | None = None) -> Integrity:
    """Check a model folder's signature and hashes without loading it (``targeting models verify``)."""
    return load_model(directory, trusted=trusted)[1].integrity


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelIntegrityError(f"{path}: unreadable model file ({exc})") from exc


def load_model(directory: str | Path, *, allow_unsigned: bool = False,
               trusted: TrustedKeys | None = None) -> tuple[PMTRegressor, ModelCard]:
    """Load a saved model after checking its card's signature and every file's sha256.

    ``trusted`` defaults to this machine's trusted keys (`targeting.pmt.signing.trusted_keys`). The
    card's ``integrity`` says what was verified (the signing key's fingerprint).
    """
    src = Path(directory)
    card_path = src / CARD_FILE
    if not card_path.is_file():
        raise ModelIntegrityError(f"{card_path}: model card not found")
    try:
        card_bytes = card_path.read_bytes()
    except OSError as exc:
        raise ModelIntegrityError(f"{card_path}: unreadable model card ({exc})") from exc
    integrity = _verify_signature(src, card_bytes, allow_unsigned=allow_unsigned, trusted=trusted)
    try:
        card = ModelCard.model_validate(json.loads(card_bytes))
    except (ValueError, UnicodeDecodeError) as exc:  # pydantic's ValidationError is a ValueError
        detail = exc.errors()[0] if isinstance(exc, ValidationError) else exc
        raise ModelIntegrityError(f"{card_path}: invalid model card ({detail})") from exc
    card._integrity = integrity
    if integrity.signed:
        # A file the signed card does not list is not covered by the signature (reference.json was not).
        own = (CARD_FILE, SIGNATURE_FILE)
        unlisted = [f for f in _folder_files(src) if f not in card.files and f not in own]
        if unlisted:
            raise ModelIntegrityError(
                f"{src}: files not covered by the signed model card: {unlisted}; remove them, or re-sign "
                f"with `targeting models sign {src}` if they belong to the model"
            )
    for fname, digest in card.files.items():
        path = src / fname
        if Path(fname).name != fname:
            raise ModelIntegrityError(f"{card_path}: file entry {fname!r} is not a plain file name")
        if not path.is_file():
            raise ModelIntegrityError(f"{path}: listed in the model card but missing")
        if _sha256(path) != digest:
            raise ModelIntegrityError(
                f"{path}: sha256 does not match the model card (file changed or tampered with)"
            )
    if MODEL_FILE not in card.files:
        raise ModelIntegrityError(f"{card_path}: the card does not list {MODEL_FILE}")

    state = _read_json(src / MODEL_FILE)
    try:
        params = dict(state["params"])
        for key in _TUPLE_PARAMS:
            if isinstance(params.get(key), list):
                params[key] = tuple(params[key])
        model = PMTRegressor(**params)
        schema = InputSchema.from_dict(state["schema"])
        components: dict[str, LinearPMT | BoosterPMT] = {}
        for name, entry in state["components"].items():
            if entry["file"] not in card.files:
                raise ModelIntegrityError(
                    f"{src / entry['file']}: component file not covered by the model card"
                )
            path = src / entry["file"]
            if entry["kind"] == "linear":
                components[name] = LinearPMT.from_dict(_read_json(path))
            else:
                components[name] = BoosterPMT.from_string(
                    path.read_text(encoding="utf-8"), entry["params"], entry.get("tuning")
                )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelIntegrityError(f"{src / MODEL_FILE}: malformed model state ({exc!r})") from exc

    card_schema = [(f.name, f.kind, f.categories) for f in card.features]
    model_schema = [
        (n, k, None if c is None else list(c))
        for n, k, c in zip(schema.names, schema.kinds, schema.categories, strict=True)
    ]
    if card_schema != model_schema:
        raise ModelIntegrityError(f"{card_path}: features do not match {src / MODEL_FILE}")
    if card.dataset.sha256 != state["training_sha256"]:
        raise ModelIntegrityError(f"{card_path}: training-data hash does not match {MODEL_FILE}")

    model.schema_ = schema
    model.n_features_in_ = schema.n_features
    if state.get("feature_names_in") is not None:
        model.feature_names_in_ = np.asarray(state["feature_names_in"], dtype=object)
    model.components_ = components
    model.weights_ = {k: float(v) for k, v in state["weights"].items()}
    model.intercept_ = float(state["intercept"])
    model.training_sha256_ = state["training_sha256"]
    model.n_training_rows_ = int(state["n_training_rows"])
    model.fitted_at_ = state["fitted_at"]
    return model, card
