"""Dataset specs: map any survey's files and columns onto roles, with no code (YAML, validated on load)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from targeting.errors import SpecError
from targeting.yaml_models import load_yaml_model

FeatureKind = Literal["numeric", "categorical", "binary"]


class FileSpec(BaseModel):
    """One input file and how to read it."""

    model_config = ConfigDict(extra="forbid")
    name: str
    path: str = Field(description="Relative to the data directory; may hold {variables}.")
    format: Literal["csv", "parquet", "xlsx", "auto"] = "auto"
    sep: str = ","
    decimal: str = "."
    encoding: str = "utf-8"
    sheet: str | int = 0
    blank_values: list[str] = Field(
        default_factory=lambda: [""], description="Cell texts that mean 'empty' (after stripping)."
    )


class JoinSpec(BaseModel):
    """A one-to-one join of a further file onto the first one."""

    model_config = ConfigDict(extra="forbid")
    file: str
    left_on: list[str]
    right_on: list[str]


class WelfareSpec(BaseModel):
    """The welfare measure: a column, and whether it is already per capita."""

    model_config = ConfigDict(extra="forbid")
    column: str
    per_capita: bool = True
    log_floor: float | None = Field(
        default=None,
        description="Welfare values below this are raised to it before taking logs for the PMT "
        "(zero-income households); the poverty classification uses the raw value.",
    )


class PovertySpec(BaseModel):
    """How a household is classified poor: a line (number or column), a flag column, or a bottom share."""

    model_config = ConfigDict(extra="forbid")
    line: float | None = None
    line_column: str | None = None
    flag_column: str | None = None
    flag_poor_values: list[Any] = Field(default_factory=lambda: [1])
    bottom_share: float | None = Field(default=None, gt=0, lt=1)
    source: str = ""

    @model_validator(mode="after")
    def _one_definition(self) -> PovertySpec:
        definitions = (self.line, self.line_column, self.bottom_share, self.flag_column)
        if all(d is None for d in definitions):
            raise ValueError("poverty needs one of line, line_column, bottom_share or flag_column")
        return self


class GroupSpec(BaseModel):
    """A derived audit group attribute, from a closed set of derivations (no expressions)."""

    model_config = ConfigDict(extra="forbid")
    column: str
    equals: Any | None = None
    isin: list[Any] | None = None
    at_least: float | None = None
    bins: list[float] | None = Field(default=None, description="Left-closed band edges, e.g. [1,3,5,7].")
    label: str = ""

    @model_validator(mode="after")
    def _one_derivation(self) -> GroupSpec:
        n = sum(x is not None for x in (self.equals, self.isin, self.at_least, self.bins))
        if n > 1:
            raise ValueError("a group takes at most one of equals, isin, at_least, bins")
        return self


class FeatureSpec(BaseModel):
    """A PMT feature: its type, range and (for categoricals) optional closed code list."""

    model_config = ConfigDict(extra="forbid")
    type: FeatureKind
    codes: list[Any] | None = None
    min: float | None = None
    max: float | None = None
    missing_codes: list[Any] = Field(default_factory=list)
    label: str = ""


class DatasetSpec(BaseModel):
    """A survey's files and roles.

    Either ``contract`` (validated by the Indonesian contract) or explicit ``features``.
    """

    model_config = ConfigDict(extra="forbid")
    name: str
    title: str = ""
    source: str = ""
    variables: dict[str, Any] = Field(default_factory=dict)
    files: list[FileSpec]
    joins: list[JoinSpec] = Field(default_factory=list)
    contract: Literal["indonesia_household"] | None = None
    household_id: list[str]
    welfare: WelfareSpec | None = None
    weight: str | None = None
    household_size: str
    region: str | None = None
    cluster: str | None = None
    poverty: PovertySpec | None = None
    groups: dict[str, GroupSpec] = Field(default_factory=dict)
    features: dict[str, FeatureSpec] = Field(default_factory=dict)
    extra_features: list[str] = Field(
        default_factory=list, description="With a contract: non-feature fields also used as features."
    )
    missing_codes: list[Any] = Field(
        default_factory=list, description="Codes meaning 'not applicable / no answer' in every column."
    )
    never_features: list[str] = Field(
        default_factory=list, description="Columns that leak welfare: refused as features."
    )
    keep_columns: list[str] = Field(default_factory=list, description="Extra columns carried along.")

    @model_validator(mode="after")
    def _coherent(self) -> DatasetSpec:
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError("file names must be unique")
        for j in self.joins:
            if j.file not in names[1:]:
                raise ValueError(f"join names file {j.file!r}, which is not a further file")
            if len(j.left_on) != len(j.right_on):
                raise ValueError(f"join with {j.file!r}: left_on and right_on differ in length")
        leaks = sorted(set(self.features) & set(self.never_features))
        if leaks:
            raise ValueError(f"columns {leaks} are listed as never_features but used as features")
        if self.contract is None and not self.features:
            raise ValueError("a spec without a contract must list its features")
        roles = set(self.household_id)
        if self.welfare is not None:
            roles.add(self.welfare.column)
        if self.weight:
            roles.add(self.weight)
        clash = sorted(roles & set(self.features))
        if clash:
            raise ValueError(f"role columns {clash} cannot also be features (welfare/weight/id leak)")
        return self

    def resolve_path(self, file: FileSpec, data_dir: Path, variables: dict[str, Any]) -> Path:
        """The concrete path of a file, with ``{variables}`` filled in."""
        values = {**self.variables, **variables}
        try:
            rel = file.path.format(**values)
        except KeyError as exc:
            raise SpecError(f"spec {self.name!r}: file path {file.path!r} needs variable {exc}") from exc
        return (data_dir / rel).resolve()


def _packaged_specs() -> dict[str, str]:
    folder = resources.files("targeting.survey").joinpath("specs")
    return {
        p.name.removesuffix(".yaml"): p.read_text(encoding="utf-8")
        for p in folder.iterdir()
        if p.name.endswith(".yaml")
    }


def list_specs() -> list[str]:
    """Names of the dataset specs shipped with the package."""
    return sorted(_packaged_specs())


def load_spec(name_or_path: str | Path) -> DatasetSpec:
    """Load a dataset spec by packaged name or YAML path; errors name the file and the field."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"}:
        if not path.exists():
            raise SpecError(f"dataset spec file not found: {path}")
        text, where = path.read_text(encoding="utf-8"), str(path)
    else:
        specs = _packaged_specs()
        if str(name_or_path) not in specs:
            raise SpecError(f"unknown dataset spec {name_or_path!r} (known: {', '.join(sorted(specs))})")
        text, where = specs[str(name_or_path)], f"specs/{name_or_path}.yaml"
    return load_yaml_model(text, DatasetSpec, where)
