"""`targeting audit`: a decisions table (from `targeting score`) in, the inspector's report out."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from targeting.decide.schema import DecisionsMeta
from targeting.errors import InputFileError
from targeting.settings import Settings


def model_card_for(meta: DecisionsMeta | None, given: Path | None) -> dict[str, Any]:
    """The card of the model that scored: ``given``, else the one in the model folder it names."""
    if given is not None:
        try:
            return dict(json.loads(given.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise InputFileError(f"--model-card {given}: not a readable JSON model card ({exc})") from exc
    if meta is None:
        return {}
    folder = meta.model.get("dir")
    card = Path(folder) / "model_card.json" if folder else None
    if card is not None and card.is_file():
        out = dict(json.loads(card.read_text(encoding="utf-8")))
        out.setdefault("name", meta.model.get("name"))
        out.setdefault("version", meta.model.get("version"))
        return out
    return {"name": meta.model.get("name"), "version": meta.model.get("version"),
            "backend": meta.model.get("backend")}


def report_info(meta: DecisionsMeta | None, *, program: str | None, data_source: str | None,
                synthetic: bool, decisions: Path, lang: str, selection: str | None = None) -> Any:
    """What the report says the audit is about, from the table's own metadata where it has it."""
    from targeting.report import ReportInfo

    if meta is None:
        return ReportInfo(program=program, selection=selection, data_source=data_source or decisions.name,
                          synthetic=synthetic, poverty_line=None)
    truth = meta.truth
    rs = meta.ruleset or {}
    text = selection or meta.selection.get(f"text_{lang}") or meta.selection.get("text_id")
    k = rs.get("min_criteria_met")
    if k is None and rs.get("id"):
        from targeting.eligibility import load_ruleset

        k = load_ruleset(rs["id"]).decision.counting_stage.min_criteria_met
    return ReportInfo(
        program=program or text,
        selection=text,
        poverty_line=truth.line if truth is not None else None,
        truth=(truth.source or None) if truth is not None and truth.kind != "line" else None,
        truth_source=_truth_source(meta),
        data_source=data_source or f"{meta.dataset_title or meta.spec} ({', '.join(meta.source_files)})",
        min_criteria_met=k,
        synthetic=synthetic or meta.spec.startswith("kukar"),
        programs=dict(meta.programs),
    )


def _truth_source(meta: DecisionsMeta) -> str | None:
    """Where the measured welfare comes from, as the table says (file, column, line)."""
    truth = meta.truth
    if truth is None:
        return None
    files = ", ".join(f for f in meta.source_files if "truth" in f) or ", ".join(meta.source_files)
    parts = [p for p in (f"{truth.welfare}" if truth.welfare else "", files,
                         f"{meta.dataset_title or meta.spec}") if p]
    return " — ".join(parts) or None


def read_current_beneficiaries(path: Path, frame: Any, key: bytes) -> tuple[Any, dict[str, Any]]:
    """Which households of ``frame`` are on the current beneficiary list (KPM) in ``path``.

    The file (CSV, Excel or Parquet) identifies households by ``household_id``, by ``head_nik``
    (pseudonymised as it is read, never kept or printed) or by ``head_nik_pseudonym``. Returns the
    boolean mask over ``frame`` and what the report says about the list (file, ids given, matched).
    """
    import numpy as np
    import pandas as pd

    from targeting.privacy import pseudonymize

    if not path.is_file():
        raise InputFileError(f"--current-beneficiaries {path}: file not found")
    suffix = path.suffix.lower()
    cols = {"household_id": "string", "head_nik": "string", "head_nik_pseudonym": "string"}
    try:
        if suffix == ".csv":
            table = pd.read_csv(path, dtype=cols)
        elif suffix in (".xlsx", ".xls"):
            table = pd.read_excel(path, dtype=cols)
        elif suffix in (".parquet", ".pq"):
            table = pd.read_parquet(path)
        else:
            raise InputFileError(f"--current-beneficiaries {path}: use a .csv, .xlsx or .parquet file")
    except (OSError, ValueError) as exc:
        raise InputFileError(
            f"--current-beneficiaries {path}: cannot read it ({type(exc).__name__})"
        ) from exc
    if "household_id" in table.columns:
        given = table["household_id"].astype("string").str.strip().dropna()
        mask = frame["household_id"].astype("string").isin(set(given)).to_numpy(dtype=bool)
        by = "household_id"
    elif "head_nik" in table.columns or "head_nik_pseudonym" in table.columns:
        if "head_nik_pseudonym" not in frame.columns:
            raise InputFileError(f"--current-beneficiaries {path}: the decisions hold no head_nik_pseudonym "
                                 "to match NIK against; give household_id instead")
        if "head_nik" in table.columns:
            given = pseudonymize(table["head_nik"].astype("string").str.strip(), key).dropna()
            table = table.drop(columns=["head_nik"])  # the clear NIK goes no further
        else:
            given = table["head_nik_pseudonym"].astype("string").str.strip().dropna()
        mask = frame["head_nik_pseudonym"].astype("string").isin(set(given)).to_numpy(dtype=bool)
        by = "head_nik"
    else:
        raise InputFileError(f"--current-beneficiaries {path}: needs a column household_id, head_nik or "
                             f"head_nik_pseudonym (found: {', '.join(map(str, table.columns[:8]))})")
    unique = int(given.nunique())
    matched = int(np.count_nonzero(mask))
    return mask, {"file": path.name, "by": by, "given": unique, "matched": matched,
                  "unmatched": max(unique - matched, 0)}


# One BLAS thread: the audit's products are vectors and thin matrices, for which OpenBLAS's threads
# only add their start and spin (a budget scenario's 120 dot products: 0.17 s with two threads, 0.01 s
# with one), and the audit already runs its bootstrap beside the rest in a second thread.
@threadpool_limits.wrap(limits=1, user_api="blas")
def audit_job(settings: Settings, decisions: Path, *, model_card: Path | None = None,
              out_dir: Path | None = None, lang: str = "id", unit: str = "person", program: str | None = None,
              selection: str | None = None,
              data_source: str | None = None, synthetic: bool = False, n_boot: int = 200, seed: int = 2024,
              pdf: Any = True, pseudonymize_ids: bool = False, current_beneficiaries: Path | None = None,
              visit_capacity: int | None = None, simulate: bool = True, budget: float | None = None,
              progress: Callable[[str], None] | None = None, previous: Path | None = None,
              grievances: Any = None, grievance_keys: Sequence[bytes] = (), drift: Path | None = None) -> Any:
    """Audit a decisions table and write the report, the flagged lists, the tables and the budget scenarios.

    ``current_beneficiaries`` is a file of the current KPM (see :func:`read_current_beneficiaries`);
    ``simulate`` adds the budget and poverty-impact section (Sembako and PKH, see ``targeting simulate``).
    ``progress`` is told each stage as it starts, with counts. ``previous`` (the last round's decisions)
    adds programme flows by kecamatan and group; ``grievances`` (the decision store's,
    `targeting.report.rounds.GRIEVANCE_COLUMNS`, linked by pseudonyms made with ``grievance_keys``) adds
    grievances filed and upheld by kecamatan and group; ``drift`` (the table `targeting drift` wrote) adds
    the drift section. Community ranks in the decisions add "Model, rules and the village".
    """
    def told(message: str) -> None:
        if progress is not None:
            progress(message)

    from targeting.audit import audit_metrics, run_audit
    from targeting.audit.decisions import as_audit_data, read_decisions
    from targeting.pmt.design import check_unit
    from targeting.privacy import load_key
    from targeting.report import write_audit_report
    from targeting.report.village import read_drift_table, village_view

    if lang not in ("id", "en"):
        raise InputFileError(f"--lang {lang!r}: use id or en")
    try:
        unit = check_unit(unit)
    except ValueError as exc:
        raise InputFileError(f"--unit: {exc}") from exc
    if visit_capacity is not None and visit_capacity < 1:
        raise InputFileError(f"--visit-capacity {visit_capacity}: give at least 1 household per sheet")
    told(f"membaca / reading {decisions.name}")
    frame, meta = read_decisions(decisions)
    key = load_key(settings.home)
    current, current_info = (None, None)
    if current_beneficiaries is not None:
        current, current_info = read_current_beneficiaries(current_beneficiaries, frame, key)
    cluster = meta.cluster if meta is not None and meta.cluster in frame.columns else None
    told(f"metrik dan kelompok / metrics and groups: {len(frame):,} rumah tangga / households, "
         f"bootstrap {n_boot} ulangan / replicates")
    out = out_dir or decisions.parent / "audit"
    # The overall metrics' bootstrap (compiled kernels and NumPy, which release the GIL) runs in a
    # second thread while this one computes the budget scenarios, the rounds, the verification view and
    # the rest of the audit from the same read-only data: on two cores, seconds of the audit's wall time.
    data = as_audit_data(frame, unit=unit, meta=meta)
    with ThreadPoolExecutor(max_workers=1) as pool:
        metrics = pool.submit(audit_metrics, data, n_boot=n_boot, seed=seed, cluster=cluster)
        # Then the verification view (sorts and sums over the registry, mostly outside the GIL): the
        # bootstrap is done before this thread's own work, so the second thread has room for it.
        verifying = pool.submit(_verification, data, meta, out)
        sim = None
        if simulate and meta is not None and meta.programs:
            from targeting.simulate import simulate as run_simulation

            programs = [p for p in ("sembako", "pkh") if p in meta.programs]
            if programs:
                told(f"simulasi anggaran / budget scenarios: {', '.join(programs)}")
                cutoffs = {k: (v["desil_min"], v["desil_max"]) for k, v in meta.programs.items()}
                sim = run_simulation(frame, programs=programs, budget=budget, cutoffs=cutoffs,
                                     line=meta.truth.line if meta.truth is not None else None)
        rounds, labels = _rounds(frame, meta, previous, grievances, grievance_keys, out)
        result = run_audit(data, meta=meta, unit=unit, key=key, n_boot=n_boot, seed=seed, cluster=cluster,
                           pseudonymize_household_id=pseudonymize_ids, current=current,
                           current_info=current_info, metrics=metrics)
        verification = verifying.result()
    ruleset = (meta.ruleset or {}).get("id") if meta is not None else "kepmensos_262_2022"
    if meta is None and "rule_verdict" not in frame.columns:
        ruleset = None
    info = report_info(meta, program=program, data_source=data_source, synthetic=synthetic,
                       decisions=decisions, lang=lang, selection=selection)
    told(f"laporan / report (HTML{', PDF' if pdf else ''}), {len(result.flagged):,} rumah tangga ditandai / "
         "flagged households (CSV, xlsx), tabel / tables")
    return write_audit_report(result, model_card=model_card_for(meta, model_card), ruleset=ruleset,
                              out_dir=out, lang=lang, pdf=pdf, info=info, simulation=sim,
                              visit_capacity=visit_capacity, rounds=rounds, group_labels=labels,
                              verification=verification, village=village_view(frame),
                              drift=None if drift is None else read_drift_table(drift))


def _verification(data: Any, meta: DecisionsMeta | None, out: Path) -> Any:
    """Borderline counts and, with the truth, the visit curve (its table as verification_curve.csv).

    ``data`` is the audit's own `AuditData` (checked once, shared with the bootstrap).
    """
    from targeting.report.verification import verification_view
    from targeting.spreadsheet import write_csv

    poor = data.poor if data.truth_known.all() else None
    view = verification_view(data.frame, poor=poor, region=meta.region if meta is not None else None)
    if view is not None and view.curve is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_csv(view.curve, out / "verification_curve.csv")
    return view


def _rounds(frame: Any, meta: DecisionsMeta | None, previous: Path | None, grievances: Any,
            keys: Sequence[bytes], out: Path) -> tuple[Any, dict[str, str]]:
    """The rounds-and-grievances view (and its CSV tables in ``out``), or None without either."""
    import pandas as pd

    from targeting.audit.decisions import read_decisions
    from targeting.report.rounds import RoundsView, grievance_counts, round_flows
    from targeting.spreadsheet import write_csv

    region = meta.region if meta is not None and meta.region else "kecamatan"
    labels = {region: "Kecamatan", **(meta.groups if meta is not None else {})}
    by = list(labels)  # the region first, then the audit groups
    flows: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    if previous is not None:
        before, _ = read_decisions(previous)
        flows = round_flows(before, frame, by)
    if grievances is not None and len(grievances):
        counts = grievance_counts(grievances, frame, keys, by)
    if not flows and not counts:
        return None, labels
    out.mkdir(parents=True, exist_ok=True)
    for name, tables in (("round_flows.csv", flows), ("grievances_by_group.csv", counts)):
        if tables:
            write_csv(pd.concat([t.rename(columns={b or "all": "group"}).assign(by=b or "all")
                                 for b, t in tables.items()], ignore_index=True), out / name)
    view = RoundsView(previous=None if previous is None else str(previous), flows=flows, grievances=counts,
                      n_grievances=0 if grievances is None else len(grievances))
    return view, labels
