"""Experiment arms: reproducible assignment by the documented hash, honoured proportions, validation."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from decimal import Decimal

import pytest

from churnml.errors import InvalidParameter
from churnml.incentives.arms import Arm, assign, choose, parse_arms, shares, unit_interval

FIFTY_FIFTY = parse_arms([
    {"arm": "A", "offer": "$15 credit", "offer_value": 15, "weight": 0.5},
    {"arm": "B", "offer": "$5 credit", "offer_value": 5, "weight": 0.5},
])


def test_unit_interval_is_the_documented_sha256() -> None:
    digest = hashlib.sha256(b"seed:exp:415/358-1921").hexdigest()
    assert unit_interval("seed", "exp", "415/358-1921") == int(digest[:13], 16) / 2**52
    assert 0 <= unit_interval("s", "e", "") < 1
    # UTF-8 keys are fine and distinct
    assert unit_interval("s", "e", "Zoë") != unit_interval("s", "e", "Zoe")


def test_same_key_same_arm_and_seed_or_experiment_reshuffle() -> None:
    keys = [f"cust-{i}" for i in range(2000)]
    first = [assign(FIFTY_FIFTY, "seed", "exp", k).arm for k in keys]
    assert first == [assign(FIFTY_FIFTY, "seed", "exp", k).arm for k in keys]
    other_seed = [assign(FIFTY_FIFTY, "seed2", "exp", k).arm for k in keys]
    other_experiment = [assign(FIFTY_FIFTY, "seed", "exp2", k).arm for k in keys]
    # independent re-randomisations agree about half the time, not always
    for other in (other_seed, other_experiment):
        agree = sum(a == b for a, b in zip(first, other, strict=True))
        assert abs(agree - 1000) < 4 * math.sqrt(2000 * 0.25)


@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.7, 0.2, 0.1), (1, 3), (0.05, 0.95), (2, 0, 1)])
def test_proportions_over_10000_customers_within_4_sigma(weights: tuple[float, ...]) -> None:
    arms = parse_arms([{"arm": f"arm{i}", "offer": f"offer {i}", "offer_value": i, "weight": w}
                       for i, w in enumerate(weights)])
    n = 10_000
    counts = Counter(assign(arms, "walkthrough", "exp", f"{i:05d}").arm for i in range(n))
    total = sum(weights)
    for i, w in enumerate(weights):
        p = w / total
        if p == 0:
            assert counts[f"arm{i}"] == 0
            continue
        sigma = math.sqrt(n * p * (1 - p))
        assert abs(counts[f"arm{i}"] - n * p) < 4 * sigma, (weights, counts)


def test_choose_uses_the_cumulative_distribution() -> None:
    arms = [Arm("A", "a", 1, 1.0), Arm("B", "b", 2, 3.0)]
    assert choose(arms, 0.0).arm == "A"
    assert choose(arms, 0.2499).arm == "A"
    assert choose(arms, 0.25).arm == "B"
    assert choose(arms, 0.999999).arm == "B"
    # a zero-weight arm is never chosen, even at its boundary
    arms = [Arm("A", "a", 1, 1.0), Arm("Z", "z", 0, 0.0), Arm("B", "b", 2, 1.0)]
    assert choose(arms, 0.5).arm == "B"
    assert [a.arm for a, _ in shares(arms)] == ["A", "Z", "B"]
    assert [s for _, s in shares(arms)] == [0.5, 0.0, 0.5]


@pytest.mark.parametrize(("arms", "message"), [
    ([], "non-empty JSON array"),
    ({"arm": "A"}, "non-empty JSON array"),
    (["A"], "arm 1 must be a JSON object"),
    ([{"offer": "x", "weight": 1}], "arm 1 needs a name"),
    ([{"arm": "A", "weight": 1}], 'arm "A" needs an "offer"'),
    ([{"arm": "A", "offer": "x", "weight": "half"}], 'weight of arm "A" must be a number'),
    ([{"arm": "A", "offer": "x", "weight": True}], 'weight of arm "A" must be a number'),
    ([{"arm": "A", "offer": "x", "weight": -1}], "must not be negative"),
    ([{"arm": "A", "offer": "x", "offer_value": -5, "weight": 1}], "offer_value of arm \"A\" must not be negative"),
    ([{"arm": "A", "offer": "x", "weight": 0}], "at least one arm needs a weight above 0"),
    ([{"arm": "A", "offer": "x", "weight": 1}, {"arm": "A", "offer": "y", "weight": 1}], "listed twice"),
    ([{"arm": "A", "offer": "x", "weight": 1, "seed": 3}], 'unknown key "seed"'),
])
def test_invalid_arms(arms: object, message: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_arms(arms)
    assert message in info.value.message


def test_arms_keep_exact_values_and_serialise() -> None:
    arms = parse_arms([{"arm": "A", "offer": "x", "offer_value": Decimal("15.50"), "weight": Decimal("0.5")},
                       {"arm": "B", "offer": "y", "weight": 1}])
    assert arms[0].offer_value == Decimal("15.50") and arms[0].weight == 0.5
    assert arms[1].offer_value is None
    assert [a.to_json() for a in arms] == [
        {"arm": "A", "offer": "x", "offer_value": 15.5, "weight": 0.5},
        {"arm": "B", "offer": "y", "offer_value": None, "weight": 1.0},
    ]
