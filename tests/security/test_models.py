"""Model folders an attacker edits: a desil decides who gets PKH, so every byte that moves it is signed.

Before: `reference.json` was not covered by the card (shifting its predictions by 0.5 moved test
households from desil 4/6/6 to 1/2/2 and the service started), and a LightGBM file edited with its
sha256 rewritten in the card was accepted (welfare 1,569,040 -> 2,048,695, desil 4 -> 7).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from api.scoring import ModelScorer
from targeting.errors import ModelIntegrityError
from targeting.pmt.persistence import CARD_FILE, SIGNATURE_FILE, load_model, sign_model
from targeting.pmt.signing import (
    SIGNING_KEY_ENV,
    TRUSTED_KEYS_ENV,
    fingerprint,
    generate_signing_key,
    load_private_key,
    load_public_key,
    trusted_keys,
)
from targeting.shipped import default_model_dir
from tests.security.cli import run_main

SHIPPED_PUB = Path(str(default_model_dir())).parents[1] / "keys" / "targeting-release-2026.pub"


@pytest.fixture
def only_shipped_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine that trusts only the project's release key (no signing key of its own)."""
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    monkeypatch.delenv(TRUSTED_KEYS_ENV, raising=False)
    monkeypatch.setenv("TARGETING_HOME", str(tmp_path / "home"))


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(default_model_dir(), dst)
    return dst


def _rewrite_hash_in_card(folder: Path, name: str) -> None:
    """What an attacker who read the format does after editing a file: fix its sha256 in the card."""
    card = json.loads((folder / CARD_FILE).read_text())
    card["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / CARD_FILE).write_text(json.dumps(card, indent=1))


def test_shipped_default_model_is_signed_by_the_release_key(only_shipped_keys) -> None:
    _, card = load_model(default_model_dir())
    release = fingerprint(load_public_key(SHIPPED_PUB))
    assert card.integrity.signed and card.integrity.key_fingerprint == release == "ed25519:1dea63520069440f"
    assert "reference.json" in card.files  # the reference is covered by the signed card
    assert set(trusted_keys().keys) == {release}


def test_shifted_reference_with_rewritten_hash_is_refused(only_shipped_keys, model_copy) -> None:
    ref = json.loads((model_copy / "reference.json").read_text())
    ref["predictions"] = [p + 0.5 for p in ref["predictions"]]
    (model_copy / "reference.json").write_text(json.dumps(ref))
    with pytest.raises(ModelIntegrityError, match="reference.json: sha256 does not match the model card"):
        ModelScorer(model_copy, model_name="m", label="x", source="t")
    _rewrite_hash_in_card(model_copy, "reference.json")
    with pytest.raises(ModelIntegrityError, match="the signature does not match the card"):
        ModelScorer(model_copy, model_name="m", label="x", source="t")


def test_edited_booster_with_rewritten_hash_is_refused(only_shipped_keys, model_copy) -> None:
    booster = model_copy / "component_lightgbm.txt"
    text = booster.read_text()
    booster.write_text(text.replace("leaf_value=", "leaf_value=0.5", 1))
    _rewrite_hash_in_card(model_copy, "component_lightgbm.txt")
    with pytest.raises(ModelIntegrityError, match="signature does not match"):
        load_model(model_copy)


def test_unsigned_model_is_refused_unless_allowed_and_then_recorded(only_shipped_keys, model_copy) -> None:
    (model_copy / SIGNATURE_FILE).unlink()
    with pytest.raises(ModelIntegrityError, match="the model is not signed"):
        ModelScorer(model_copy, model_name="m", label="x", source="t")
    scorer = ModelScorer(model_copy, model_name="m", label="x", source="t", allow_unsigned=True)
    assert scorer.info.components["model_signing_key"] == "unsigned"
    signed = ModelScorer(default_model_dir(), model_name="m", label="x", source="t")
    assert signed.info.components["model_signing_key"] == "ed25519:1dea63520069440f"


def test_a_key_the_machine_does_not_trust_is_refused(only_shipped_keys, model_copy, tmp_path) -> None:
    key, pub = generate_signing_key(tmp_path / "mallory.key")
    sign_model(model_copy, key)
    mallory = fingerprint(load_private_key(key))
    with pytest.raises(ModelIntegrityError, match=f"signed by key {mallory}, which this machine does not"):
        load_model(model_copy)
    # Trusting the signer (its .pub in <home>/keys/trusted) makes the same folder load.
    trusted = tmp_path / "home" / "keys" / "trusted"
    trusted.mkdir(parents=True)
    shutil.copy(pub, trusted / "mallory.pub")
    assert load_model(model_copy)[1].integrity.key_fingerprint == mallory


def test_a_file_the_signed_card_does_not_list_is_refused(only_shipped_keys, model_copy) -> None:
    (model_copy / "component_extra.txt").write_text("tree")
    with pytest.raises(ModelIntegrityError, match=r"not covered by the signed model card: \['compo"):
        load_model(model_copy)


def test_signing_refuses_to_bless_a_changed_file(model_copy, tmp_path) -> None:
    key, _ = generate_signing_key(tmp_path / "k.key")
    (model_copy / "model.json").write_text((model_copy / "model.json").read_text() + " ")
    with pytest.raises(ModelIntegrityError, match="model.json: sha256 does not match .*signing would bless"):
        sign_model(model_copy, key)
    integrity, added = sign_model(model_copy, key, rehash=True)
    assert integrity.signed and added == []


def test_cli_keygen_sign_verify_and_serve_refusal(model_copy, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    home = tmp_path / "home"
    (model_copy / SIGNATURE_FILE).unlink()
    run = run_main(["serve", "--model-dir", str(model_copy)], home, monkeypatch, capsys)
    assert run.code == 2 and "the model is not signed" in run.err and run.err.count("\n") == 1
    run = run_main(["models", "keygen"], home, monkeypatch, capsys)
    assert run.code == 0
    key_path = home / "keys" / "model_signing.key"
    assert key_path.stat().st_mode & 0o777 == 0o600
    run = run_main(["models", "sign", str(model_copy)], home, monkeypatch, capsys)
    signer = fingerprint(load_private_key(key_path))
    assert run.code == 0 and f"ditandatangani / signed by {signer}" in run.out
    run = run_main(["models", "verify", str(model_copy)], home, monkeypatch, capsys)
    assert run.code == 0 and f"{model_copy}: OK, ditandatangani / signed by ed25519:" in run.out
    (model_copy / "reference.json").write_text((model_copy / "reference.json").read_text() + " ")
    run = run_main(["models", "verify", str(model_copy)], home, monkeypatch, capsys)
    assert run.code == 2 and "reference.json: sha256 does not match" in run.err
    run = run_main(["models", "keygen"], home, monkeypatch, capsys)
    assert run.code == 2 and "is never overwritten" in run.err
