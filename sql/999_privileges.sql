-- Nothing in churnml is executable by PUBLIC: each file grants its functions to
-- churnml_user or churnml_admin, and this last file takes PUBLIC's default away.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA churnml FROM PUBLIC;
REVOKE ALL ON SCHEMA churnml FROM PUBLIC;
