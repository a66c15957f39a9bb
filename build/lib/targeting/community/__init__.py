"""What the village knows: community ranks beside the PMT, a hybrid of both, and their comparison.

* within-community rank percentiles (0 = poorest) from any number of informants or meetings;
* community-based targeting (CBT): selection by the consensus rank at a coverage per community;
* :class:`CommunityRankHybrid`: indicator weights learned from rankings, scores from indicators only;
* :class:`CommunityBlend`: the PMT's prediction, corrected by a household's rank where it has one;
* :mod:`targeting.community.evaluation`: the out-of-sample-by-community comparison inspectors ask for.
"""

from targeting.community._blend import SOURCE_BLEND, SOURCE_MODEL, CommunityBlend, normal_score
from targeting.community._hybrid import CommunityRankHybrid
from targeting.community._ranks import (
    Poorer,
    RankSpec,
    community_codes,
    community_percentiles,
    consensus_percentile,
    direction_check,
    rank_percentiles,
)
from targeting.community._select import community_coverage, select_within_community

__all__ = [
    "SOURCE_BLEND",
    "SOURCE_MODEL",
    "CommunityBlend",
    "CommunityRankHybrid",
    "Poorer",
    "RankSpec",
    "community_codes",
    "community_coverage",
    "community_percentiles",
    "consensus_percentile",
    "direction_check",
    "normal_score",
    "rank_percentiles",
    "select_within_community",
]
