"""Experiment arms: validation, reproducible assignment, expected values.

Assignment is a pure function of the experiment's seed, its name and the customer
key, so the same customer always gets the same arm (in every session, on a
replica, after a restore) and anyone can recompute it:

    h = SHA-256 of the UTF-8 bytes of  seed || ':' || experiment || ':' || customer_key
    u = (first 13 hex digits of h, i.e. its first 52 bits, as an integer) / 2^52      -- in [0, 1)
    arm = the first arm, in the order listed, with u < (w_1 + ... + w_i) / (w_1 + ... + w_n)

The same u in SQL:

    ('x' || substr(encode(sha256(convert_to(seed || ':' || experiment || ':' || customer_key, 'UTF8')),
                          'hex'), 1, 13))::bit(52)::bigint / 2^52

52 bits make u exact in a float8. Experiment names cannot contain ':', so for a
given experiment different keys always hash different strings.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from churnml.errors import InvalidParameter, StringDataRightTruncation

_SCALE = float(1 << 52)
ARM_KEYS = frozenset({"arm", "offer", "offer_value", "weight"})
MAX_ARMS = 26
MAX_OFFER_CHARS = 100  # as a rule's own offer (churnml.incentive_rules.offer)


@dataclass(frozen=True)
class Arm:
    arm: str
    offer: str
    offer_value: Any  # int, Decimal or None (unpriced)
    weight: float

    def to_json(self) -> dict[str, Any]:
        value = self.offer_value
        if isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        return {"arm": self.arm, "offer": self.offer, "offer_value": value, "weight": self.weight}


def unit_interval(seed: str, experiment: str, customer_key: str) -> float:
    """The customer's position u in [0, 1) for this experiment (see the module docstring)."""
    digest = hashlib.sha256(f"{seed}:{experiment}:{customer_key}".encode()).hexdigest()
    return int(digest[:13], 16) / _SCALE


def choose(arms: Sequence[Arm], u: float) -> Arm:
    """The arm whose slice of the weights' cumulative distribution contains u."""
    total = sum(a.weight for a in arms)
    cumulative = 0.0
    for arm in arms:
        cumulative += arm.weight
        if arm.weight > 0 and u < cumulative / total:
            return arm
    # u is below 1 and the last boundary is total/total = 1, so this is only reached
    # through rounding of the partial sums: the last arm with weight takes it.
    return next(a for a in reversed(arms) if a.weight > 0)


def assign(arms: Sequence[Arm], seed: str, experiment: str, customer_key: str) -> Arm:
    return choose(arms, unit_interval(seed, experiment, customer_key))


def _number(value: Any, what: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InvalidParameter(f"{what} must be a number, not {value!r}")
    if isinstance(value, float | Decimal) and not math.isfinite(value):
        raise InvalidParameter(f"{what} must be a finite number, not {value}")
    return value


def parse_arms(value: Any) -> list[Arm]:
    """Validate the `arms` JSON of a rule: [{"arm", "offer", "offer_value", "weight"}, ...]."""
    hint = ('e.g. [{"arm": "A", "offer": "$15 credit", "offer_value": 15, "weight": 0.5}, '
            '{"arm": "B", "offer": "$5 credit", "offer_value": 5, "weight": 0.5}]')
    if not isinstance(value, list) or not value:
        raise InvalidParameter("arms must be a non-empty JSON array of arms", hint=hint)
    if len(value) > MAX_ARMS:
        raise InvalidParameter(f"an experiment has at most {MAX_ARMS} arms, not {len(value)}")
    arms: list[Arm] = []
    for i, item in enumerate(value, 1):
        if not isinstance(item, dict):
            raise InvalidParameter(f"arm {i} must be a JSON object", hint=hint)
        unknown = sorted(set(item) - ARM_KEYS)
        if unknown:
            raise InvalidParameter(f'arm {i} has the unknown key "{unknown[0]}"',
                                   detail="An arm has the keys arm, offer, offer_value and weight.", hint=hint)
        name = item.get("arm")
        if not isinstance(name, str) or not name.strip() or len(name) > 63:
            raise InvalidParameter(f"arm {i} needs a name (\"arm\": text of 1 to 63 characters)", hint=hint)
        offer = item.get("offer")
        if not isinstance(offer, str) or not offer.strip():
            raise InvalidParameter(f'arm "{name}" needs an "offer" (text)', hint=hint)
        if len(offer) > MAX_OFFER_CHARS:
            raise StringDataRightTruncation(
                f'the offer of arm "{name}" is {len(offer)} characters long, more than {MAX_OFFER_CHARS}',
                detail=f"An offer is at most {MAX_OFFER_CHARS} characters: it is returned and logged with every "
                       "offer.", hint="Shorten the offer; describe it further elsewhere.")
        offer_value = item.get("offer_value")
        if offer_value is not None:
            offer_value = _number(offer_value, f'offer_value of arm "{name}"')
            if offer_value < 0:
                raise InvalidParameter(f'offer_value of arm "{name}" must not be negative')
        weight = _number(item.get("weight"), f'weight of arm "{name}"')
        if weight < 0:
            raise InvalidParameter(f'weight of arm "{name}" must not be negative')
        if any(a.arm == name for a in arms):
            raise InvalidParameter(f'arm "{name}" is listed twice')
        arms.append(Arm(arm=name, offer=offer, offer_value=offer_value, weight=float(weight)))
    if not sum(a.weight for a in arms) > 0:
        raise InvalidParameter("at least one arm needs a weight above 0", hint=hint)
    return arms


def shares(arms: Sequence[Arm]) -> list[tuple[Arm, float]]:
    """Each arm with its share of the weights (they need not sum to 1)."""
    total = sum(a.weight for a in arms)
    return [(a, a.weight / total) for a in arms]
