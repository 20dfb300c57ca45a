"""The Aurora ML churn walkthrough's customers and messages (MIT-0), read once from walkthrough.toml.

They are in every generated data set whatever the seed, so the demo's queries give the
same answers for every seed.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churnml_client.datagen.schema import TextRow

DATA_FILE = Path(__file__).resolve().with_name("walkthrough.toml")
_PERIODS = ("day", "eve", "night", "intl")


@dataclass(frozen=True)
class Profile:
    """A fixed walkthrough customer: (minutes, calls) per period."""

    area_code: int
    phone: str
    state: str
    acc_length: int
    int_plan: str
    vmail_plan: str
    vmail_msg: int
    day: tuple[float, int]
    eve: tuple[float, int]
    night: tuple[float, int]
    intl: tuple[float, int]
    cust_service_calls: int
    churn: bool


def _profile(entry: dict[str, Any]) -> Profile:
    periods = {name: (float(entry[name]["minutes"]), int(entry[name]["calls"])) for name in _PERIODS}
    return Profile(**{**entry, **periods})


def _read(path: Path) -> tuple[tuple[Profile, ...], tuple[TextRow, ...]]:
    with path.open("rb") as file:
        document = tomllib.load(file)
    customers = tuple(_profile(entry) for entry in document["customers"])
    messages = tuple((m["area_code"], m["phone"], m["message"], m["calltime"]) for m in document["messages"])
    return customers, messages


WALKTHROUGH_CUSTOMERS, WALKTHROUGH_MESSAGES = _read(DATA_FILE)
