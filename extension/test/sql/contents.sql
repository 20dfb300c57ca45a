-- What the extensions hold, as \dx+ lists it. A change here is a change to the SQL API:
-- a new or removed function, table, view or type (and, after a release, its upgrade delta).
\dx+ churnml
\dx+ churnml_aws
