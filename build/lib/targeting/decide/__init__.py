"""Decide: one scorer (model + ranking + programmes + rules + reasons) and the decisions table.

Used by `targeting score`, `targeting run` and the demo, the scoring API and the partitioned runner,
so that a household is decided the same way through every door.
"""

from targeting.decide.ranking import RANK_BASES, RankBasis, Ranks
from targeting.decide.scorer import Decisions, Scorer, ScorerInfo, file_version
from targeting.decide.selection import Selection

__all__ = [
    "RANK_BASES",
    "Decisions",
    "RankBasis",
    "Ranks",
    "Scorer",
    "ScorerInfo",
    "Selection",
    "file_version",
]
