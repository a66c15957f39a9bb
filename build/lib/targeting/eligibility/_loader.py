"""Find, read and validate rule-set files; every error names the file and the line at fault."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from targeting.errors import RuleSetError

from ._contract import ContractField, contract_fields
from ._schema import (
    OPERATORS,
    AllAny,
    Between,
    Compare,
    Condition,
    CountAtLeast,
    Equals,
    Membership,
    Not,
    RuleSet,
    Truth,
)
from ._yaml_lines import LineDict, LineList, load_yaml_with_lines

Loc = tuple[int | str, ...]
RULESET_DIR = Path(__file__).resolve().parent / "rulesets"


def list_rulesets() -> list[str]:
    """Names of the rule sets shipped with the package (file stems in ``rulesets/``)."""
    return sorted(p.stem for p in RULESET_DIR.glob("*.yaml"))


def ruleset_path(name_or_path: str | Path) -> Path:
    """The file a rule-set name or path refers to."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or "\\" in text or text.endswith((".yaml", ".yml")):
        return Path(name_or_path)
    path = RULESET_DIR / f"{text}.yaml"
    if not path.is_file():
        raise RuleSetError(
            f"unknown rule set {text!r}; shipped rule sets: {', '.join(list_rulesets())} "
            "(or give the path of a YAML file)"
        )
    return path


def load_ruleset(name_or_path: str | Path) -> RuleSet:
    """Load and validate a rule set by name (file stem in ``rulesets/``) or path.

    Raises
    ------
    RuleSetError
        The file is not valid YAML, breaks the rule-set schema (unknown key or operator, missing
        threshold...), or refers to survey fields or codes the survey contract does not have.
        The message names the file and the line of every problem found.
    """
    path = ruleset_path(name_or_path)
    raw = load_yaml_with_lines(path)
    if not isinstance(raw, dict):
        raise RuleSetError(f"{path}, line 1: a rule set must be a YAML mapping")
    try:
        ruleset = RuleSet.model_validate(raw)
    except ValidationError as exc:
        problems = [(tuple(e["loc"]), _pydantic_message(e)) for e in exc.errors()]
        raise _error(path, raw, problems) from None
    problems = list(_semantic_problems(ruleset, path))
    if problems:
        raise _error(path, raw, problems)
    ruleset._path = str(path)
    return ruleset


# ---- error reporting ----------------------------------------------------------------------------


def _pydantic_message(err: Any) -> str:
    kind = err["type"]
    loc = err["loc"]
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r} (not part of the rule-set schema)"
    if kind == "union_tag_invalid":
        return f"unknown operator {err['ctx']['tag']!r} (allowed: {', '.join(OPERATORS)})"
    if kind == "union_tag_not_found":
        return f"a condition needs an 'op' key (one of: {', '.join(OPERATORS)})"
    if kind == "missing":
        if loc and loc[-1] == "threshold":
            return "missing threshold: this comparison needs 'threshold: <name of a threshold>'"
        return f"missing required key {loc[-1]!r}"
    return str(err["msg"])


def _locate(raw: Any, loc: Loc) -> tuple[int | None, str]:
    """Line and readable path (``criteria[3].condition.field``) of a location in the raw YAML."""
    node, line, parts = raw, getattr(raw, "line", None), []
    for part in loc:
        if isinstance(node, LineDict) and node.get("op") == part:
            continue  # a union tag pydantic inserts into locations, not a key of the file
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
        if isinstance(node, LineDict) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            node = None  # a missing key: the enclosing node's line stands
    return line, "".join(parts)


def _error(path: Path, raw: Any, problems: Sequence[tuple[Loc, str]]) -> RuleSetError:
    located = sorted(
        ((*_locate(raw, loc), msg) for loc, msg in problems), key=lambda t: (t[0] or 0, t[1])
    )
    lines = [
        f"{path}, line {line if line is not None else '?'}: {where + ': ' if where else ''}{msg}"
        for line, where, msg in located
    ]
    if len(lines) == 1:
        return RuleSetError(lines[0])
    return RuleSetError(f"{path}: {len(lines)} problems\n  " + "\n  ".join(lines))


# ---- checks the schema alone cannot make --------------------------------------------------------


def _semantic_problems(rs: RuleSet, path: Path) -> Iterator[tuple[Loc, str]]:
    if rs.id != path.stem:
        yield ("id",), f"id {rs.id!r} must equal the file name {path.stem!r}"
    if rs.revoked_on is not None and rs.revoked_on <= rs.in_force_from:
        yield ("revoked_on",), "revoked_on must come after in_force_from"
    if rs.revoked_by is not None and rs.revoked_on is None:
        yield ("revoked_by",), "revoked_by is given but revoked_on is not"

    for name, thr in rs.thresholds.items():
        if min(thr.values) > rs.in_force_from:
            yield (
                ("thresholds", name, "values"),
                f"threshold {name!r} has no value on in_force_from ({rs.in_force_from})",
            )
        index = rs.price_index
        if thr.price_year is not None and index is not None and thr.price_year not in index.values:
            yield (
                ("thresholds", name, "price_year"),
                f"price_year {thr.price_year} is not in price_index.values",
            )

    fields = contract_fields()
    used_thresholds: set[str] = set()
    seen: set[str] = set()
    for i, crit in enumerate(rs.criteria):
        if crit.id in seen:
            yield ("criteria", i, "id"), f"duplicate criterion id {crit.id!r}"
        seen.add(crit.id)
        yield from _condition_problems(
            crit.condition, ("criteria", i, "condition"), fields, rs, used_thresholds
        )
    for name in rs.thresholds:
        if name not in used_thresholds:
            yield ("thresholds", name), f"threshold {name!r} is defined but no criterion uses it"

    yield from _decision_problems(rs)


def _decision_problems(rs: RuleSet) -> Iterator[tuple[Loc, str]]:
    crit_ids = {c.id for c in rs.criteria}
    placed: dict[str, str] = {}
    stage_ids: set[str] = set()
    for j, stage in enumerate(rs.decision.stages):
        loc: Loc = ("decision", "stages", j)
        if stage.id in stage_ids:
            yield (*loc, "id"), f"duplicate stage id {stage.id!r}"
        stage_ids.add(stage.id)
        for k, cid in enumerate(stage.criteria):
            if cid not in crit_ids:
                yield (*loc, "criteria", k), f"unknown criterion {cid!r}"
            elif cid in placed:
                yield (*loc, "criteria", k), f"criterion {cid!r} is already in stage {placed[cid]!r}"
            else:
                placed[cid] = stage.id
        for k, cid in enumerate(stage.required):
            if cid not in stage.criteria:
                yield (*loc, "required", k), f"required criterion {cid!r} is not in this stage"
        if stage.min_criteria_met > len(stage.criteria):
            yield (
                (*loc, "min_criteria_met"),
                f"min_criteria_met={stage.min_criteria_met} exceeds the "
                f"{len(stage.criteria)} criteria of the stage",
            )
    for i, crit in enumerate(rs.criteria):
        if crit.id not in placed:
            yield ("criteria", i, "id"), f"criterion {crit.id!r} is in no decision stage"
    if rs.decision.counted_stage is not None and rs.decision.counted_stage not in stage_ids:
        yield ("decision", "counted_stage"), f"unknown stage {rs.decision.counted_stage!r}"


def _condition_problems(
    cond: Condition,
    loc: Loc,
    fields: dict[str, ContractField],
    rs: RuleSet,
    used: set[str],
) -> Iterator[tuple[Loc, str]]:
    if isinstance(cond, AllAny | CountAtLeast):
        for i, sub in enumerate(cond.conditions):
            yield from _condition_problems(sub, (*loc, "conditions", i), fields, rs, used)
        return
    if isinstance(cond, Not):
        yield from _condition_problems(cond.condition, (*loc, "condition"), fields, rs, used)
        return

    refs = {key: getattr(cond, key, None) for key in ("threshold", "low", "high")}
    for key, name in refs.items():
        if name is not None:
            used.add(name)
            if name not in rs.thresholds:
                yield (*loc, key), f"unknown threshold {name!r} (not defined under 'thresholds')"

    spec = fields.get(cond.field)
    if spec is None:
        yield (*loc, "field"), f"unknown survey field {cond.field!r} (not in the survey contract)"
        return
    derive = getattr(cond, "derive", None)
    if derive is not None and not spec.is_numeric:
        yield (*loc, "derive"), f"{derive} needs a numeric field; {cond.field!r} is {spec.kind}"

    if isinstance(cond, Compare | Between):
        if not spec.is_numeric:
            yield (*loc, "field"), f"{cond.op} needs a numeric field; {cond.field!r} is {spec.kind}"
    elif isinstance(cond, Truth):
        if spec.kind != "bool":
            yield (*loc, "field"), f"{cond.op} needs a yes/no field; {cond.field!r} is {spec.kind}"
    elif isinstance(cond, Equals):
        if cond.threshold is not None:
            if not spec.is_numeric:
                yield (
                    (*loc, "threshold"),
                    f"a threshold needs a numeric field; {cond.field!r} is {spec.kind}",
                )
        else:
            yield from _value_problems(spec, [cond.value], (*loc, "value"))
    elif isinstance(cond, Membership):
        if spec.kind == "bool":
            yield (*loc, "op"), f"use is_true/is_false for the yes/no field {cond.field!r}"
        else:
            for i, v in enumerate(cond.values):
                yield from _value_problems(spec, [v], (*loc, "values", i))


def _value_problems(spec: ContractField, values: list[Any], loc: Loc) -> Iterator[tuple[Loc, str]]:
    for v in values:
        if spec.codes is not None:
            if not isinstance(v, str) or v not in spec.codes:
                yield loc, (
                    f"{v!r} is not a code of field {spec.name!r} "
                    f"(valid codes: {', '.join(sorted(spec.codes))})"
                )
        elif spec.kind == "bool":
            if not isinstance(v, bool):
                yield loc, f"{spec.name!r} is a yes/no field; use is_true/is_false"
        elif spec.is_numeric:
            if isinstance(v, bool) or not isinstance(v, int | float):
                yield loc, f"{v!r} is not a number (field {spec.name!r} is {spec.kind})"
            elif spec.allowed is not None and float(v) not in spec.allowed:
                allowed = ", ".join(f"{a:g}" for a in sorted(spec.allowed))
                yield loc, f"{v!r} is not an allowed value of {spec.name!r} (allowed: {allowed})"
        else:
            yield loc, f"field {spec.name!r} is free text ({spec.kind}); rules can only test coded fields"
