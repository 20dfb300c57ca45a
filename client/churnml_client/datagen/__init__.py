"""Synthetic demo data for `churnml data generate`: the Aurora ML churn walkthrough schema.

Three tables in schema `public`, and with `--months N` a fourth:

* `customers`: the 21 columns of the public 3,333-row telco churn data set, with
  marginal distributions modelled on it and a churn label whose structure mirrors
  the real one, so a tree model learns it to an AUC of about 0.93 rather than a
  suspicious 0.99;
* `customer_message`: the walkthrough's ten messages plus short generated notes
  whose tone correlates with churn;
* `call_transcript`: short agent/customer dialogues, likewise;
* `customer_months` (only with `--months N`): monthly snapshots of the customers, month 1
  being `customers` itself, with churn outcomes a month later and known drift scenarios
  from a given month on (docs/drift-simulation.md).

One job per module:

    schema.py        the tables: columns, DDL, keys and indexes
    walkthrough.py   the walkthrough's fixed customers and messages (walkthrough.toml)
    customers.py     the simulated customers and their churn label
    templates.py     the English message and transcript templates (templates.toml)
    texts.py         customer_message and call_transcript rows from the templates
    copy_text.py     those rows in PostgreSQL's COPY text format
    loading.py       DDL, COPY, keys and ANALYZE in one transaction (`load`, `load_months`)
    months.py        the monthly snapshots: leavers, joiners, month-to-month evolution, outcomes
    drift.py         the drift scenarios (price_rise, competitor) and the --drift text

Everything is a pure function of (n, seed), and customer_months of (n, seed, months, drift):
the same seed gives byte-identical COPY text (tests/client/test_datagen_checksum.py,
tests/client/test_datagen_months.py).
"""

from churnml_client.datagen.drift import DriftError, DriftPlan, parse_drift
from churnml_client.datagen.loading import Loaded, TablesExist, check_months, load, load_months
from churnml_client.datagen.schema import CUSTOMER_COLUMNS

__all__ = [
    "CUSTOMER_COLUMNS", "DriftError", "DriftPlan", "Loaded", "TablesExist", "check_months", "load", "load_months",
    "parse_drift",
]  # fmt: skip
