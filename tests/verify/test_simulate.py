from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.verify import nearest_cut_order, plot_visit_curve, simulate_visits, visit_curve

# Five households, worked by hand (persons 4, 2, 6, 1, 3):
#   0 selected, truly eligible      (right)
#   1 not selected, truly eligible  (exclusion error, 2 persons)
#   2 selected, not eligible        (inclusion error, 6 persons)
#   3 not selected, not eligible    (right)
#   4 not selected, truly eligible  (exclusion error, 3 persons)
SEL = np.array([True, False, True, False, False])
TRUTH = np.array([True, True, False, False, True])
POP = np.array([4.0, 2.0, 6.0, 1.0, 3.0])
# Before any visit: P = 4+2+3 = 9, excluded 5 -> 5/9; S = 4+6 = 10, non-poor in S 6 -> 6/10.


def test_simulation_by_hand():
    t = simulate_visits(SEL, TRUTH, POP, {"mine": [2, 1, 0, 3, 4], "list": [3, 4]}, [0, 1, 2, 5])
    mine = t[t["ordering"] == "mine"].set_index("visits")
    assert mine.loc[0, "exclusion_error"] == pytest.approx(5 / 9)
    assert mine.loc[0, "inclusion_error"] == pytest.approx(6 / 10)
    # Visit 2 (inclusion, 6 persons): S = 4, no inclusion left.
    assert mine.loc[1, "persons_corrected"] == 6 and mine.loc[1, "inclusion_error"] == 0
    # Then 1 (exclusion, 2): S = 6, excluded 3 of 9.
    assert mine.loc[2, "exclusion_error"] == pytest.approx(3 / 9)
    assert mine.loc[2, "persons_corrected_per_1000_visits"] == pytest.approx(1000 * 8 / 2)
    assert mine.loc[5, "households_corrected"] == 3 and mine.loc[5, "exclusion_error"] == 0
    # A list of two stops after two visits, however many are budgeted.
    lst = t[t["ordering"] == "list"].set_index("visits")
    assert lst.loc[5, "visits_made"] == 2 and lst.loc[5, "persons_corrected"] == 3
    # Random: the exact expectation, 3 wrong of 5 households, 11 persons wrong of 5 households.
    rnd = t[t["ordering"] == "random"].set_index("visits")
    assert rnd.loc[2, "households_corrected"] == pytest.approx(2 * 3 / 5)
    assert rnd.loc[2, "persons_corrected"] == pytest.approx(2 * 11 / 5)
    assert rnd.loc[5, "exclusion_error"] == pytest.approx(0)
    assert rnd.loc[5, "inclusion_error"] == pytest.approx(0)


def test_random_expectation_matches_many_random_orders():
    rng = np.random.default_rng(0)
    n = 400
    sel, truth = rng.random(n) < 0.4, rng.random(n) < 0.4
    pop = rng.integers(1, 8, n).astype(float)
    orders = {f"r{i}": rng.permutation(n) for i in range(300)}
    t = simulate_visits(sel, truth, pop, orders, [100])
    sims = t[t["ordering"] != "random"]["persons_corrected"]
    expected = float(t[t["ordering"] == "random"]["persons_corrected"].iloc[0])
    assert sims.mean() == pytest.approx(expected, abs=4 * sims.std() / np.sqrt(len(sims)))


def test_nearest_cut_and_curve(tmp_path):
    assert list(nearest_cut_order([0.0, 0.9, 1.05, 2.0], 1.0)) == [2, 1, 0, 3]
    curve = visit_curve(SEL, TRUTH, POP, {"mine": [2, 1, 4, 0, 3]}, points=6)
    assert set(curve["ordering"]) == {"mine", "random"} and curve["visits"].max() == 5
    assert isinstance(curve, pd.DataFrame)
    out = plot_visit_curve(curve, tmp_path / "curve.png")
    assert out.stat().st_size > 1000


def test_orders_must_be_distinct_positions():
    with pytest.raises(ValueError, match="distinct"):
        simulate_visits(SEL, TRUTH, POP, {"bad": [0, 0]}, [1])
