"""Retention incentives: Marketing's rules as data.

* `conditions`: the small language of rule conditions (tokenizer, parser, type
  check, and an interpreter with SQL's three-valued logic). Conditions are never
  run as SQL and never passed to Python's eval.
* `arms`: reproducible assignment of customers to experiment arms.
* `rules`: a rule set evaluated on one customer's inputs, reason templates, and the
  cost/saving estimate of a rule set on a model's held-out rows.
* `results`: arm-by-arm experiment results with a confidence interval for the uplift.

Nothing here touches `plpy`; `churnml.sql_api.incentives` is the SQL side.
"""
