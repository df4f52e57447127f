"""common.stats: the mean ± standard error every paired A/B reports."""

import math

import numpy as np
import pandas as pd
import pytest

from common.stats import format_mean_se, mean_se, standard_error


def test_mean_and_standard_error_match_the_textbook_formula():
    d = pd.Series([0.01, 0.03, -0.02, 0.04])
    mean, se = mean_se(d)
    assert mean == pytest.approx(0.015)
    assert se == pytest.approx(np.std([0.01, 0.03, -0.02, 0.04], ddof=1) / 2)
    assert standard_error(np.array([1.0, 3.0])) == pytest.approx(1.0)
    assert mean_se([2.0, 2.0]) == (2.0, 0.0)


def test_one_value_has_no_error_and_none_is_refused():
    mean, se = mean_se([0.5])
    assert mean == 0.5 and math.isnan(se)
    assert format_mean_se(pd.Series([0.012])) == "+0.012 (n=1)"
    with pytest.raises(ValueError, match="no values"):
        mean_se([])


def test_format_signs_and_rounds():
    assert format_mean_se([-0.01, -0.03]) == "-0.020 ± 0.010"
    assert format_mean_se(pd.Series([0.1, 0.1, 0.1])) == "+0.100 ± 0.000"
