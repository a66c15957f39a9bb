"""Dataset specs: map any survey's files and columns onto roles, with no code (YAML, validated on load)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from targeting.errors import InputFileError, SpecError
from targeting.yaml_models import load_yaml_model

FeatureKind = Literal["numeric", "categorical", "binary"]
DataRoot = Literal["spec", "home", "shared"]


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
    data_root: DataRoot = Field(
        default="spec",
        description="What relative file paths start from: the spec file's folder (spec), the generated "
        "data under TARGETING_HOME (home), or the real-survey folder (shared: TARGETING_DATA_DIR).",
    )
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

    _folder: Path | None = PrivateAttr(default=None)
    _where: str = PrivateAttr(default="")

    @property
    def where(self) -> str:
        """Where the spec was read from (a file path, or the packaged name)."""
        return self._where or f"spec {self.name!r}"

    def base_dir(self, data_dir: Path | None = None) -> Path:
        """The folder relative paths start from: ``data_dir`` if given, else the spec's ``data_root``."""
        if data_dir is not None:
            return Path(data_dir)
        if self.data_root == "home":
            from targeting.settings import get_settings

            return get_settings().data_dir
        if self.data_root == "shared":
            from targeting.survey.load import default_data_dir

            return default_data_dir()
        return self._folder if self._folder is not None else Path.cwd()

    def resolve_path(self, file: FileSpec, data_dir: Path | None, variables: dict[str, Any]) -> Path:
        """The concrete path of a file, with ``{variables}`` filled in (absolute paths stay as given)."""
        values = {**self.variables, **variables}
        try:
            rel = file.path.format(**values)
        except KeyError as exc:
            raise SpecError(f"spec {self.name!r}: file path {file.path!r} needs variable {exc}") from exc
        return (self.base_dir(data_dir) / rel).resolve()

    def locate(self, file: FileSpec, data_dir: Path | None, variables: dict[str, Any]) -> Path:
        """:meth:`resolve_path`, refusing a file that is not there with where it was looked for."""
        path = self.resolve_path(file, data_dir, variables)
        if not path.exists():
            how = {
                "spec": "paths in this spec start from the spec file's folder",
                "home": "this spec reads generated data under TARGETING_HOME/data (`targeting generate` "
                        "writes it; TARGETING_HOME changes where)",
                "shared": "this spec reads the real-survey folder (TARGETING_DATA_DIR changes where; "
                          "default ../shared/data beside the checkout)",
            }[self.data_root if data_dir is None else "spec"]
            if data_dir is not None:
                how = f"paths start from the data folder given ({data_dir})"
            raise InputFileError(
                f"{self.where}: file {file.name!r} not found at {path} ({how}); give the file on the "
                "command line or fix `path` in the spec"
            )
        return path


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
    folder: Path | None = None
    if path.suffix in {".yaml", ".yml"}:
        if not path.exists():
            raise SpecError(f"dataset spec file not found: {path.resolve()}")
        text, where, folder = path.read_text(encoding="utf-8"), str(path), path.resolve().parent
    else:
        specs = _packaged_specs()
        if str(name_or_path) not in specs:
            raise SpecError(f"unknown dataset spec {name_or_path!r} (known: {', '.join(sorted(specs))}; "
                            "or give the path of a .yaml file)")
        text, where = specs[str(name_or_path)], f"specs/{name_or_path}.yaml"
    spec = load_yaml_model(text, DatasetSpec, where)
    spec._folder = folder
    spec._where = where
    return spec
