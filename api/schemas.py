"""Request and response models of the scoring service, in families (``HouseholdIn``, ``ScoreOut``...).

``HouseholdIn`` is generated from the survey contract (contract.yaml): each field's OpenAPI schema
shows its canonical type, code list, range and labels, so /docs is the contract. The model itself
accepts any JSON scalar per field, because the authority on what is valid is the shared contract
validation (`targeting.survey.load.frame_to_survey`) that the CLI also runs: one household's bad
value must become a per-household problem (so ``on_error="score_valid"`` can score the others),
never a whole-request parse failure.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import WithJsonSchema

from targeting.survey.contract import Contract, FieldSpec, load_contract


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise ValueError("must be one value (text, number, true/false or null), not a list or an object")


#: Any JSON scalar; its documented schema is the contract field's (see `field_json_schema`).
JsonScalar = Annotated[Any, AfterValidator(_scalar)]
Lang = Literal["id", "en"]
OnError = Literal["reject_batch", "score_valid"]


# ---- households in ---------------------------------------------------------------------------------


def field_json_schema(name: str, spec: FieldSpec, contract: Contract) -> dict[str, Any]:
    """The canonical OpenAPI schema of one contract field (type, codes or range, bilingual title)."""
    schema: dict[str, Any]
    if spec.type == "category":
        codes = contract.code_list(name)
        labels = "; ".join(f"{c} = {contract.label(name, c, 'id')} / {contract.label(name, c, 'en')}"
                           for c in codes)
        schema = {"type": "string", "enum": codes, "description": f"Kode / codes: {labels}"}
    elif spec.type == "bool":
        schema = {"type": "boolean"}
    elif spec.type in ("int", "float"):
        schema = {"type": "integer" if spec.type == "int" else "number"}
        if spec.allowed is not None:
            schema["enum"] = list(spec.allowed)
        if spec.min is not None:
            schema["minimum"] = int(spec.min) if spec.type == "int" else spec.min
        if spec.max is not None:
            schema["maximum"] = int(spec.max) if spec.type == "int" else spec.max
    else:
        schema = {"type": "string", "minLength": 1}
        if spec.max_length is not None:
            schema["maxLength"] = spec.max_length
        if spec.pattern is not None:
            schema["pattern"] = spec.pattern
    schema["title"] = f"{spec.label_id} / {spec.label_en}"
    if spec.role == "personal":
        schema["description"] = (
            "Pribadi: tidak pernah disimpan atau dicatat / personal: never stored or logged."
        )
    if spec.nullable:
        return {"anyOf": [schema, {"type": "null"}], "title": schema.pop("title"),
                **({"description": schema.pop("description")} if "description" in schema else {})}
    return schema


def _household_schema_extra(schema: dict[str, Any]) -> None:
    contract = load_contract()
    schema["required"] = [n for n, f in contract.fields.items() if f.required]
    schema["additionalProperties"] = False


@cache
def household_model() -> type[BaseModel]:
    """``HouseholdIn``: one field per contract field, documented canonically, accepting JSON scalars."""
    contract = load_contract()
    fields: dict[str, Any] = {
        name: (Annotated[JsonScalar, WithJsonSchema(field_json_schema(name, spec, contract))], None)
        for name, spec in contract.fields.items()
    }
    return create_model(
        "HouseholdIn",
        __config__=ConfigDict(extra="allow", json_schema_extra=_household_schema_extra),
        __doc__=(
            f"One household in the survey contract {contract.name} v{contract.version}. Values may also "
            "be given as the text a CSV file would hold ('1', 'ya', '0,5' is not accepted: use '.'); "
            "every value is checked by the same contract validation as `targeting validate`."
        ),
        **fields,
    )


# ---- score request ---------------------------------------------------------------------------------


def score_request_model(max_batch: int) -> type[BaseModel]:
    """``ScoreRequest`` with the service's batch limit shown in the schema (enforced with a 413)."""
    household = household_model()
    return create_model(
        "ScoreRequest",
        __config__=ConfigDict(extra="forbid"),
        __doc__="Households to score, the language of the reasons, and what to do with bad households.",
        households=(list[household], Field(min_length=1, json_schema_extra={"maxItems": max_batch})),  # type: ignore[valid-type]
        lang=(Lang, Field(default="id", description="Language of the reasons: id (Bahasa Indonesia) or en.")),
        top_k=(int | None, Field(default=None, ge=0, le=10, description="Reasons per decision.")),
        on_error=(
            OnError,
            Field(
                default="reject_batch",
                description="reject_batch: any bad household -> 422 and nothing scored; "
                "score_valid: score the valid ones and list the rest in `rejected`.",
            ),
        ),
    )


# ---- decisions out ---------------------------------------------------------------------------------


class Problem(BaseModel):
    """One bad value of one household (personal identifiers are redacted)."""

    index: int | None = Field(description="Position of the household in the request (0-based).")
    household_id: str | None
    field: str
    value: str
    reason: str
    reason_en: str


class ErrorOut(BaseModel):
    """Every error response: a message, and for 422 the list of problems."""

    detail: str
    errors: list[Problem] = []


class RankOut(BaseModel):
    """Position of the predicted welfare in a reference population (0 = poorest)."""

    percentile: float = Field(ge=0, le=1)
    desil: int = Field(ge=1, le=10)


class RegionalRankOut(RankOut):
    region: str


class RulesOut(BaseModel):
    """The rule set's verdict with every criterion's flag (null = unknown: an input was missing)."""

    ruleset_id: str
    verdict: Literal["eligible", "not_eligible", "unknown"]
    stage: str
    n_met: int
    n_unknown: int
    criteria: dict[str, bool | None]


class ReasonOut(BaseModel):
    """One reason (`targeting.explain`): an indicator that pushed predicted welfare the decision's way.

    Eligible for a programme: the indicators that lowered the prediction most (direction ``down``);
    eligible for none: those that raised it most (``up``).
    """

    rank: int = Field(ge=1)
    code: str = Field(description="The indicator (a survey-contract field), stable across languages.")
    value: str | int | float | bool | None = Field(description="The household's value of it.")
    direction: Literal["down", "up"]
    contribution: float = Field(description="Change in predicted log per-capita welfare (exact).")
    effect_pct: float = Field(description="The same as a % change of predicted welfare.")
    text: str = Field(description="The reason in the request's language.")


class UncertaintyOut(BaseModel):
    """How sure the model is: a calibrated welfare interval and the risk that the decision is wrong."""

    level: float = Field(description="Nominal coverage of the interval, e.g. 0.9.")
    welfare_low: float = Field(description="Lower end of per-capita welfare (Rp/month).")
    welfare_high: float = Field(description="Upper end of per-capita welfare (Rp/month).")
    p_other_side: float = Field(ge=0, le=1, description="Probability the household is on the other side "
                                "of its selection's cut-off (the decision would be wrong).")
    status: Literal["clearly_in", "borderline", "clearly_out"]


class DecisionOut(BaseModel):
    """One household's decision as stored (append-only) in the decision store."""

    model_config = ConfigDict(protected_namespaces=())

    decision_id: str
    request_id: str
    household_id: str | None = Field(
        description="The id sent in the request (absent in decision histories: the store keeps pseudonyms)."
    )
    household_pseudonym: str
    input_sha256: str
    model_name: str
    model_version: str
    ruleset_id: str
    ruleset_version: str
    created_at: datetime
    predicted_log_welfare: float
    predicted_welfare_pc: float = Field(description="Predicted monthly per-capita welfare (Rp).")
    national: RankOut
    regional: RegionalRankOut | None
    programs: dict[str, bool]
    method: Literal["model", "model+community"] = Field(
        default="model", description="Who decided: the PMT alone, or the PMT with the village-meeting "
        "rank (a model trained with community ranks, for households that have one).")
    selected: bool = Field(
        default=False,
        description="Selected under the service's selection (default: eligible for any programme); the "
        "reasons point down for a selected household and up for the others.",
    )
    rules: RulesOut
    uncertainty: UncertaintyOut | None = Field(
        default=None, description="Absent when the model has no calibrated intervals.")
    reasons: list[ReasonOut]
    lang: Lang
    components: dict[str, str] = Field(
        default_factory=dict,
        description="Versions of the other parts used: contract, reference distribution, programme "
        "cut-offs, reason catalogue, explanation method.",
    )
    revisits: str | None = Field(
        default=None, description="In a history: the decision this one revisits (it came from a grievance).")


class VersionsOut(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str
    ruleset_id: str
    ruleset_version: str
    as_of: str = Field(description="Date (zone of the service) whose rule-set thresholds were used.")


class ScoreOut(BaseModel):
    """Decisions for the valid households, the rejected ones (``score_valid``), and the versions used."""

    request_id: str
    replayed: bool = Field(description="True when an Idempotency-Key retry returned stored decisions.")
    versions: VersionsOut
    decisions: list[DecisionOut]
    rejected: list[Problem]


# ---- grievances -------------------------------------------------------------------------------------

Scalar = str | int | float | bool | None
Channel = Literal["desa", "kecamatan", "dinsos", "cek_bansos", "other"]


class GrievanceIn(BaseModel):
    """A household's corrected indicators (sanggahan), with who reported them, when and on what evidence."""

    model_config = ConfigDict(extra="forbid")

    household_id: str = Field(min_length=1, max_length=64,
                              description="The id the household was scored with.")
    revisits: str | None = Field(
        default=None, max_length=32,
        description="The decision the grievance revisits (default: the household's latest decision).")
    corrections: dict[Annotated[str, Field(max_length=64)], Scalar] = Field(
        max_length=100, description="Corrected survey-contract fields and their values, as in a survey row.")
    reported_by: str = Field(min_length=1, max_length=200,
                             description="Who reported the correction (officer, village head, household).")
    reported_on: date = Field(description="Day the correction was reported.")
    channel: Channel = Field(description="Where it was filed: village, kecamatan, Dinsos office, Cek Bansos.")
    evidence: str = Field(default="", max_length=500,
                          description="Reference of the evidence (visit report number, photo id, letter).")
    lang: Lang = "id"
    top_k: int | None = Field(default=None, ge=0, le=10)


class ChangeOut(BaseModel):
    field: str
    before: Scalar
    after: Scalar


class GrievanceOutcomeOut(BaseModel):
    desil: int
    programs: dict[str, bool]
    selected: bool
    rule_verdict: str | None
    predicted_welfare_pc: float


class DriverOut(BaseModel):
    indicator: str
    contribution_change: float = Field(
        description="Change of the indicator's exact contribution (log welfare).")
    effect_pct: float
    name_id: str
    name_en: str


class GrievanceOut(BaseModel):
    """A stored grievance: the decision it revisits, the re-scored one, what changed and why."""

    grievance_id: str
    household_id: str | None
    household_pseudonym: str
    revisits_decision_id: str
    decision_id: str | None = Field(description="The re-scored decision (none when nothing changed).")
    status: Literal["no_change", "outcome_unchanged", "outcome_changed"]
    upheld: bool = Field(description="The household gained a programme or the selection.")
    channel: str
    reported_by: str
    reported_on: str
    evidence: str
    created_at: datetime
    changes: list[ChangeOut]
    before: GrievanceOutcomeOut
    after: GrievanceOutcomeOut | None
    changed: list[str]
    why: list[DriverOut]
    model_changed: bool
    explanation: dict[str, str]


class GrievanceFiledOut(BaseModel):
    """The answer to a grievance: the grievance and the re-scored decision."""

    replayed: bool
    grievance: GrievanceOut
    decision: DecisionOut | None


class HistoryOut(BaseModel):
    """Every stored decision about one household, oldest first, with the grievances that link them."""

    household_pseudonym: str
    decisions: list[DecisionOut]
    grievances: list[GrievanceOut] = Field(
        default_factory=list,
        description="Each grievance names the decision it revisits and the decision it produced.")


class ModelOut(BaseModel):
    """The model being served and its card."""

    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str
    source: str
    card: dict[str, Any]
    ruleset_id: str
    ruleset_version: str
    components: dict[str, str]


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready", "not_ready"]
    model_loaded: bool
    database: bool
    detail: str = ""
