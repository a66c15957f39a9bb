"""The reason catalogue: how each indicator is named and its value written, kept as data (YAML).

A catalogue is checked twice: on load against the survey contract it names (every entry is a
contract field of a matching type; code overrides are valid codes), and when bound to a model
(:class:`targeting.explain.ReasonRenderer`) against the model's indicators. An indicator without an
entry is a :class:`ReasonCatalogueError` at that point, never a blank reason later.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from targeting.errors import SpecError

if TYPE_CHECKING:
    from targeting.survey.spec import DatasetSpec

ValueKind = Literal["code", "yes_no", "number", "percent"]
PACKAGED_CATALOGUE = "reasons.yaml"


class ReasonCatalogueError(SpecError):
    """A reason catalogue is invalid, or lacks entries for indicators a model uses."""


class Phrase(BaseModel):
    """A text in Bahasa Indonesia (``id``) and English (``en``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        """The text in ``lang`` (``id`` or ``en``)."""
        if lang == "id":
            return self.id
        if lang == "en":
            return self.en
        raise ValueError(f"lang must be 'id' or 'en', got {lang!r}")


class IndicatorEntry(BaseModel):
    """How one indicator is named and its value written."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    en: str = Field(min_length=1)
    value: ValueKind
    lowercase: bool = False
    unit: Phrase | None = None
    unit_one: Phrase | None = None
    decimals: int = Field(default=0, ge=0, le=6)
    labels: dict[str, Phrase] = Field(default_factory=dict)

    @property
    def name(self) -> Phrase:
        return Phrase(id=self.id, en=self.en)

    @model_validator(mode="after")
    def _coherent(self) -> IndicatorEntry:
        if self.value not in ("number",) and (self.unit is not None or self.unit_one is not None):
            raise ValueError(f"unit applies to value: number only (this entry is value: {self.value})")
        if self.value == "yes_no" and self.labels:
            raise ValueError("labels do not apply to value: yes_no (use the catalogue's yes_no texts)")
        if self.value == "number":
            for key in self.labels:
                try:
                    float(key)
                except ValueError as exc:
                    raise ValueError(f"labels of a number must be keyed by numbers, got {key!r}") from exc
        return self


class YesNo(BaseModel):
    """Texts for binary values."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    true_label: Phrase
    false_label: Phrase


class Directions(BaseModel):
    """What a reason says about the indicator's effect."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    down: Phrase
    up: Phrase


class ReasonCatalogue(BaseModel):
    """A validated reason catalogue (see ``reasons.yaml`` for the format)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    version: str
    contract: Literal["indonesia_household"] | None = None
    template: Phrase
    directions: Directions
    missing: Phrase
    yes_no: YesNo
    indicators: dict[str, IndicatorEntry]
    source: str = Field(default="<memory>", exclude=True)

    @field_validator("template")
    @classmethod
    def _template_fields(cls, v: Phrase) -> Phrase:
        for lang in ("id", "en"):
            text = v.get(lang)
            for key in ("{indicator}", "{value}", "{direction}"):
                if key not in text:
                    raise ValueError(f"template.{lang} must contain {key}, got {text!r}")
        return v

    @model_validator(mode="after")
    def _against_contract(self) -> ReasonCatalogue:
        if self.contract is None:
            return self
        from targeting.survey.contract import load_contract

        contract = load_contract(self.contract)
        problems = []
        expected = {"category": ("code",), "bool": ("yes_no",), "int": ("number",),
                    "float": ("number", "percent")}
        for name, entry in self.indicators.items():
            spec = contract.fields.get(name)
            if spec is None:
                problems.append(f"{name}: not a field of contract {self.contract!r}")
                continue
            allowed = expected.get(spec.type, ())
            if entry.value not in allowed:
                problems.append(
                    f"{name}: contract type {spec.type!r} cannot be written as value: {entry.value}"
                    f" (use {' or '.join(allowed) or 'no entry'})"
                )
            elif entry.value == "code":
                unknown = sorted(set(entry.labels) - set(contract.code_list(name)))
                if unknown:
                    problems.append(f"{name}: labels for unknown codes {unknown}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def entry(self, indicator: str) -> IndicatorEntry:
        """The entry of one indicator (:class:`ReasonCatalogueError` if there is none)."""
        self.require([indicator])
        return self.indicators[indicator]

    def require(self, indicators: list[str] | tuple[str, ...]) -> None:
        """Raise :class:`ReasonCatalogueError` naming every indicator without an entry."""
        missing = [name for name in indicators if name not in self.indicators]
        if missing:
            raise ReasonCatalogueError(
                f"{self.source}: reason catalogue {self.name!r} has no entry for indicator(s) "
                f"{', '.join(missing)}; add them under `indicators:` (a reason must never be blank)"
            )

    def code_label(self, indicator: str, code: str, lang: str) -> str:
        """Label of a categorical code: the catalogue's override, else the contract's, else the code."""
        entry = self.indicators[indicator]
        if code in entry.labels:
            text = entry.labels[code].get(lang)
        elif self.contract is not None:
            from targeting.survey.contract import load_contract

            text = load_contract(self.contract).label(indicator, code, lang)
        else:
            text = code
        return _lower_first(text) if entry.lowercase else text

    @classmethod
    def from_spec(cls, spec: DatasetSpec, *, base: ReasonCatalogue | None = None) -> ReasonCatalogue:
        """A catalogue for a survey described by its spec's feature labels (e.g. Paraguay, Burkina Faso).

        Each feature's ``label`` names the indicator (in both languages: specs carry one label);
        categorical values are written as their codes, binary as ya/tidak, numeric as numbers.
        Templates, directions and missing/yes-no texts come from ``base`` (the packaged catalogue by
        default). A feature without a label is an error, not a blank name.
        """
        if not spec.features:
            raise ReasonCatalogueError(
                f"spec {spec.name!r} has no `features:` with labels; a contract-based survey uses "
                "the packaged catalogue"
            )
        base = base or load_catalogue()
        unlabelled = [name for name, f in spec.features.items() if not f.label.strip()]
        if unlabelled:
            raise ReasonCatalogueError(
                f"spec {spec.name!r}: feature(s) {', '.join(unlabelled)} have no `label`; "
                "a reason catalogue built from the spec needs one for every feature"
            )
        kinds: dict[str, ValueKind] = {"categorical": "code", "binary": "yes_no", "numeric": "number"}
        entries = {
            name: IndicatorEntry(id=f.label.strip(), en=f.label.strip(), value=kinds[f.type], decimals=2)
            for name, f in spec.features.items()
        }
        return cls(
            name=f"{spec.name}_reasons",
            version=base.version,
            contract=None,
            template=base.template,
            directions=base.directions,
            missing=base.missing,
            yes_no=base.yes_no,
            indicators=entries,
            source=f"spec {spec.name!r}",
        )


def _lower_first(text: str) -> str:
    """Small first letter, unless the first word is an acronym (PLN, SD, LPG...)."""
    if len(text) >= 2 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def load_catalogue(path: str | Path | None = None) -> ReasonCatalogue:
    """Load and validate a reason catalogue (default: the packaged ``reasons.yaml``).

    Raises
    ------
    ReasonCatalogueError
        The file is missing, not YAML, or breaks the catalogue format or the contract; the message
        names the file and the entry at fault.
    """
    if path is None:
        where = f"targeting/explain/{PACKAGED_CATALOGUE}"
        text = resources.files("targeting.explain").joinpath(PACKAGED_CATALOGUE).read_text(encoding="utf-8")
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ReasonCatalogueError(f"{where}: cannot read reason catalogue: {exc}") from exc
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ReasonCatalogueError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ReasonCatalogueError(f"{where}: a reason catalogue must be a mapping")
    try:
        return ReasonCatalogue.model_validate({**raw, "source": where})
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or '<top>'}: {e['msg']}" for e in exc.errors()
        )
        raise ReasonCatalogueError(f"{where}: invalid reason catalogue: {details}") from exc
