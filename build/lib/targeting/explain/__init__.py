"""Every decision explained: exact contributions per indicator, reason codes (id/en), global views.

Data first: explanations are serialisable objects and tables; the report draws them. The entry point
is :class:`Explainer` (compile a fitted PMT model once, check the reason catalogue against its
indicators, then explain a household, a request batch or a whole registry).
"""

from ._catalogue import (
    IndicatorEntry,
    Phrase,
    ReasonCatalogue,
    ReasonCatalogueError,
    load_catalogue,
)
from ._contributions import (
    ContributionEngine,
    Contributions,
    fold_contributions,
    model_matrix,
    reference_contributions,
)
from ._explainer import Explainer, RegistryExplanation
from ._explanation import HouseholdExplanation, IndicatorContribution, ReasonCode
from ._importance import GlobalImportance, ImportanceAccumulator, global_importance
from ._reasons import DEFAULT_TOP_K, select_reasons
from ._render import ReasonRenderer, format_number
from ._treeshap import MAX_TABLE_BITS, TreeTables, UntabulableModelError, compile_boosters

__all__ = [
    "DEFAULT_TOP_K",
    "MAX_TABLE_BITS",
    "ContributionEngine",
    "Contributions",
    "Explainer",
    "GlobalImportance",
    "HouseholdExplanation",
    "ImportanceAccumulator",
    "IndicatorContribution",
    "IndicatorEntry",
    "Phrase",
    "ReasonCatalogue",
    "ReasonCatalogueError",
    "ReasonCode",
    "ReasonRenderer",
    "RegistryExplanation",
    "TreeTables",
    "UntabulableModelError",
    "compile_boosters",
    "fold_contributions",
    "format_number",
    "global_importance",
    "load_catalogue",
    "model_matrix",
    "reference_contributions",
    "select_reasons",
]
