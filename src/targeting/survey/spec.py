"""Dataset specs: map any survey's files and columns onto roles, with no code (YAML, validated on load)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from targeting.errors import InputFileError, SpecError
from targeting.yaml_models import load_yaml_model, merged, parse_yaml

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


WelfareKind = Literal["per_capita", "total", "class", "flag"]
#: Welfare kinds measured in money: only they have log welfare, R², Spearman against welfare, CGH.
MONEY_KINDS: tuple[str, str] = ("per_capita", "total")


class WelfareSpec(BaseModel):
    """The welfare measure: money per capita or per household, an ordinal class, or a poverty flag.

    * ``per_capita`` (default) / ``total``: money; a total is divided by household size. The PMT
      predicts log welfare.
    * ``class``: an ordinal class (e.g. 1 extreme poor, 2 poor, 3 not poor) with ``classes`` listed
      poorest first and the ``poor`` ones named; the PMT predicts the class rank, and every metric
      that needs money (R², Spearman against welfare, CGH, the poverty-line rule) is skipped with a
      reason, never computed on a class.
    * ``flag``: only a poor / not-poor flag (``poor`` lists the values meaning poor); the PMT
      predicts 1 for not poor, 0 for poor (a linear probability model).
    """

    model_config = ConfigDict(extra="forbid")
    column: str
    kind: WelfareKind | None = None
    per_capita: bool = True
    classes: list[Any] | None = Field(default=None, description="class: the values, poorest first.")
    poor: list[Any] | None = Field(default=None, description="class / flag: the values meaning poor.")
    log_floor: float | None = Field(
        default=None,
        description="Welfare values below this are raised to it before taking logs for the PMT "
        "(zero-income households); the poverty classification uses the raw value.",
    )

    @property
    def measure(self) -> WelfareKind:
        """The kind, with the older ``per_capita: false`` meaning ``total``."""
        return self.kind or ("per_capita" if self.per_capita else "total")

    @property
    def is_money(self) -> bool:
        return self.measure in MONEY_KINDS

    @model_validator(mode="after")
    def _kind_fields(self) -> WelfareSpec:
        kind = self.measure
        if kind == "class" and (not self.classes or not self.poor):
            raise ValueError("welfare kind 'class' needs `classes` (poorest first) and `poor`")
        if kind == "flag" and not self.poor:
            raise ValueError("welfare kind 'flag' needs `poor` (the values meaning poor)")
        if kind in ("class", "flag") and self.log_floor is not None:
            raise ValueError("log_floor is for money welfare only")
        if kind == "class" and self.poor and self.classes:
            unknown = [p for p in self.poor if p not in self.classes]
            if unknown:
                raise ValueError(f"poor classes {unknown} are not among `classes`")
        return self


Scalar = str | int | float | bool


class Condition(BaseModel):
    """One comparison of a column's cell with a value, from a closed set of operators.

    ``equals``/``not_equals``/``isin``/``not_in`` compare the cell's text (stripped; a whole number
    written ``1.0`` equals ``1``); ``lt``/``le``/``gt``/``ge`` compare numbers (a cell that is not a
    number cannot be compared: its row is rejected); ``blank: true`` matches empty cells.
    """

    model_config = ConfigDict(extra="forbid")
    column: str
    equals: Scalar | None = None
    not_equals: Scalar | None = None
    isin: list[Scalar] | None = None
    not_in: list[Scalar] | None = None
    lt: float | None = None
    le: float | None = None
    gt: float | None = None
    ge: float | None = None
    blank: bool | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        ops = [k for k in OPERATORS if getattr(self, k) is not None]
        if len(ops) != 1:
            raise ValueError(f"a condition on {self.column!r} takes exactly one of {', '.join(OPERATORS)}")
        return self

    @property
    def operator(self) -> str:
        return next(k for k in OPERATORS if getattr(self, k) is not None)

    @property
    def operand(self) -> Any:
        return getattr(self, self.operator)

    def describe(self) -> str:
        v = self.operand
        shown = int(v) if isinstance(v, float) and v.is_integer() else v
        return f"{self.column} {self.operator} {shown!r}"


OPERATORS: tuple[str, ...] = ("equals", "not_equals", "isin", "not_in", "lt", "le", "gt", "ge", "blank")


class RowFilter(Condition):
    """A row filter: the condition and, always, why (it is printed with the rows it excludes)."""

    because: str = Field(min_length=3, description="Why: shown with the count of rows it excludes.")


class RowsSpec(BaseModel):
    """Rows the spec excludes: every ``keep_if`` must hold, no ``drop_if`` may (reported, not rejected)."""

    model_config = ConfigDict(extra="forbid")
    keep_if: list[RowFilter] = Field(default_factory=list)
    drop_if: list[RowFilter] = Field(default_factory=list)


class KeySpec(BaseModel):
    """A region or cluster made of several columns (unique only together), joined into one key."""

    model_config = ConfigDict(extra="forbid")
    columns: list[str] = Field(min_length=1)
    sep: str = "/"
    name: str | None = Field(default=None, description="Name of the derived column (default: parts joined).")

    @property
    def column(self) -> str:
        return self.name or "+".join(self.columns)


class OneHotSpec(BaseModel):
    """A region stored as one 0/1 column per region: exactly one must be 1 in each row."""

    model_config = ConfigDict(extra="forbid")
    one_hot: dict[str, str] = Field(min_length=2, description="column -> region label")
    name: str = "region"

    @property
    def column(self) -> str:
        return self.name

    @property
    def columns(self) -> list[str]:
        return list(self.one_hot)


RoleColumn = str | KeySpec | OneHotSpec

AggregateHow = Literal["head", "count", "any", "all", "max", "min", "mean", "sum"]


class Aggregate(BaseModel):
    """One household column made from its persons' rows.

    ``head``: the head's value; ``count``: persons (meeting ``where`` if given); ``any``/``all``:
    1 if any / every person meets ``where``, else 0; ``max``/``min``/``mean``/``sum`` of a numeric
    ``column`` over the persons (meeting ``where`` if given; missing values skipped).
    """

    model_config = ConfigDict(extra="forbid")
    how: AggregateHow
    column: str | None = None
    where: Condition | None = None

    @model_validator(mode="after")
    def _fields(self) -> Aggregate:
        if self.how in ("head", "max", "min", "mean", "sum") and self.column is None:
            raise ValueError(f"aggregate {self.how!r} needs `column`")
        if self.how in ("any", "all") and self.where is None:
            raise ValueError(f"aggregate {self.how!r} needs `where`")
        return self


class CommunityRanksSpec(BaseModel):
    """Where a survey keeps its community ranks (village meetings, informants): never PMT inputs."""

    model_config = ConfigDict(extra="forbid")
    columns: list[str] = Field(min_length=1, description="One column per ranking of the same households.")
    community: list[str] = Field(min_length=1, description="The column(s) of the ranking exercise.")
    poorer: Literal["low", "high"] = Field(description="low: rank 1 is the poorest; high: the largest is.")

    def rank_spec(self) -> Any:
        from targeting.community import RankSpec

        return RankSpec(tuple(self.columns), tuple(self.community), self.poorer)


class PersonsSpec(BaseModel):
    """A person-level file made into one row per household before anything else reads it."""

    model_config = ConfigDict(extra="forbid")
    file: str = Field(description="The person-level file (one of `files`).")
    household: list[str] = Field(min_length=1, description="Its columns identifying the household.")
    head: Condition = Field(description="Which person is the head (exactly one per household).")
    columns: dict[str, Aggregate] = Field(min_length=1)


class PovertyLine(BaseModel):
    """An official poverty line kept as data (``poverty_lines.yaml``)."""

    model_config = ConfigDict(extra="forbid")
    value: float = Field(gt=0)
    unit: str
    area: str
    period: str
    source: str


def poverty_lines() -> dict[str, PovertyLine]:
    """The shipped poverty lines by key (e.g. ``kaltim_2024_03``)."""
    text = resources.files("targeting.survey").joinpath("poverty_lines.yaml").read_text(encoding="utf-8")
    raw = parse_yaml(text, "targeting/survey/poverty_lines.yaml") or {}
    return {k: PovertyLine.model_validate(v) for k, v in raw.items()}


def poverty_line(key: str) -> PovertyLine:
    """One shipped poverty line; an unknown key names the known ones."""
    lines = poverty_lines()
    if key not in lines:
        raise SpecError(f"unknown poverty line {key!r} (poverty_lines.yaml has {', '.join(lines)})")
    return lines[key]


class PovertySpec(BaseModel):
    """How a household is classified poor: a line (number or column), a flag column, or a bottom share.

    ``line`` may name a line of ``poverty_lines.yaml`` (its value and source are used).
    """

    model_config = ConfigDict(extra="forbid")
    line: float | None = None
    line_column: str | None = None
    flag_column: str | None = None
    flag_poor_values: list[Any] = Field(default_factory=lambda: [1])
    bottom_share: float | None = Field(default=None, gt=0, lt=1)
    source: str = ""

    @model_validator(mode="before")
    @classmethod
    def _named_line(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("line"), str):
            found = poverty_line(data["line"])
            data = {**data, "line": found.value,
                    "source": data.get("source") or f"{found.area}, {found.period}: {found.source}"}
        return data

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
    out_of_range: Literal["reject", "missing"] = Field(
        default="reject",
        description="A value outside [min, max]: reject the household, or treat the value as missing "
        "(counted and reported).",
    )
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
    region: RoleColumn | None = None
    cluster: RoleColumn | None = None
    persons: PersonsSpec | None = None
    community_ranks: CommunityRanksSpec | None = None
    rows: RowsSpec = Field(default_factory=RowsSpec)
    recode: dict[str, dict[str, Scalar | None]] = Field(
        default_factory=dict,
        description="column -> {text as written: value}: cells are replaced before validation (matched "
        "stripped and case-insensitively); cells not listed stay as they are. Every change is counted.",
    )
    welfare_leak_allowed: dict[str, str] = Field(
        default_factory=dict,
        description="Column -> why it may stay although its rank correlation with welfare exceeds the "
        "leak threshold.",
    )
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
        # A welfare proxy must not sneak in as a role either (a region that is an income decile).
        for role, cols in self.role_sources().items():
            bad = sorted(set(cols) & set(self.never_features))
            if bad:
                raise ValueError(f"{role} uses column(s) {bad}, which are listed as never_features")
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
        if self.community_ranks is not None:
            ranked = sorted(set(self.community_ranks.columns) & set(self.features))
            if ranked:
                raise ValueError(f"community rank column(s) {ranked} cannot also be features (the PMT must "
                                 "score households that were never ranked)")
        if self.persons is not None and self.persons.file not in names:
            raise ValueError(f"persons names file {self.persons.file!r}, which is not one of `files`")
        return self

    @property
    def region_column(self) -> str | None:
        """The column holding the region once derived keys are built (None without a region)."""
        return _role_column(self.region)

    @property
    def cluster_column(self) -> str | None:
        return _role_column(self.cluster)

    @property
    def welfare_kind(self) -> WelfareKind | None:
        return None if self.welfare is None else self.welfare.measure

    def role_sources(self) -> dict[str, list[str]]:
        """The source columns of every role except the id and welfare (which never_features name)."""
        out: dict[str, list[str]] = {}
        for role, value in (("region", self.region), ("cluster", self.cluster)):
            if value is not None:
                out[role] = [value] if isinstance(value, str) else list(value.columns)
        if self.weight:
            out["weight"] = [self.weight]
        out["household_size"] = [self.household_size]
        for name, g in self.groups.items():
            out[f"group {name}"] = [g.column]
        return out

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


def _extended(raw: Any, where: str, seen: tuple[str, ...] = ()) -> Any:
    """A spec extending a shipped one (the registry plus its truth, a later round), merged onto it.

    Mappings merge key by key, anything else is replaced; chains are followed, a cycle is an error.
    """
    if not isinstance(raw, dict) or "extends" not in raw:
        return raw
    raw = dict(raw)
    base_name = raw.pop("extends")
    specs = _packaged_specs()
    if base_name not in specs:
        raise SpecError(f"{where}: extends {base_name!r}, which is not a shipped spec")
    if base_name in seen:
        raise SpecError(f"{where}: extends {base_name!r} in a cycle ({' -> '.join((*seen, base_name))})")
    base = _extended(parse_yaml(specs[base_name], f"specs/{base_name}.yaml"), f"specs/{base_name}.yaml",
                     (*seen, base_name))
    return merged(base, raw)


def _role_column(value: RoleColumn | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.column


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
    raw = _extended(parse_yaml(text, where), where)
    spec = load_yaml_model(text, DatasetSpec, where, raw=raw)
    spec._folder = folder
    spec._where = where
    return spec
