"""Synthetic demo data for `churnml data generate`: the Aurora ML churn walkthrough schema.

Three tables in schema `public`:

* `customers`: the 21 columns of the public 3,333-row telco churn data set, with
  marginal distributions modelled on it and a churn label whose structure mirrors
  the real one, so a tree model learns it to an AUC of about 0.93 rather than a
  suspicious 0.99;
* `customer_message`: the walkthrough's ten messages plus short generated notes
  whose tone correlates with churn;
* `call_transcript`: short agent/customer dialogues, likewise.

One job per module:

    schema.py        the three tables: columns, DDL, keys and indexes
    walkthrough.py   the walkthrough's fixed customers and messages (walkthrough.toml)
    customers.py     the simulated customers and their churn label
    templates.py     the English message and transcript templates (templates.toml)
    texts.py         customer_message and call_transcript rows from the templates
    copy_text.py     those rows in PostgreSQL's COPY text format
    loading.py       DDL, COPY, keys and ANALYZE in one transaction (`load`)

Everything is a pure function of (n, seed): the same seed gives byte-identical COPY
text (tests/client/test_datagen_checksum.py).
"""

from churnml_client.datagen.loading import Loaded, TablesExist, load
from churnml_client.datagen.schema import CUSTOMER_COLUMNS

__all__ = ["CUSTOMER_COLUMNS", "Loaded", "TablesExist", "load"]
