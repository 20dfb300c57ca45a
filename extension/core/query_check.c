/*
 * Is a text exactly one SELECT, with no data-modifying part of its own? churnml runs a caller's own query
 * in a few places (a training or scoring source, an export): always as the caller,
 * but it is pasted into a larger statement or handed to COPY, so it must be what the
 * function says it takes, and the same thing everywhere, whichever function is called.
 *
 * Checked on PostgreSQL's own raw parse tree (no SQL is looked at as text):
 *   - exactly one statement (a second one after a ';' is refused, not run);
 *   - a SelectStmt (SELECT, VALUES, TABLE), not INSERT/UPDATE/DELETE/MERGE/utility;
 *   - no data-modifying statement in its WITH clause (PostgreSQL allows those only at
 *     the top level, so the top-level WITH is the only place to look);
 *   - no SELECT INTO (which creates a table).
 * Functions called by the query may still write: that runs with the caller's rights, as
 * it would in a plain SELECT.
 */
#include "postgres.h"

#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/builtins.h"

#include "churnml.h"

PG_FUNCTION_INFO_V1(churnml_check_select);

RawStmt *
churnml_one_select(const char *query, const char *what)
{
	List	   *parsed = raw_parser(query, RAW_PARSE_DEFAULT);
	RawStmt    *raw;
	SelectStmt *select;
	ListCell   *cell;

	if (list_length(parsed) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s must be exactly one statement, not %d", what, list_length(parsed)),
				 errhint("Pass one SELECT, without a trailing second statement.")));
	raw = linitial_node(RawStmt, parsed);
	if (!IsA(raw->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s must be a SELECT (or VALUES, TABLE)", what),
				 errhint("Pass what a SELECT returns; run data changes separately.")));
	select = (SelectStmt *) raw->stmt;
	if (select->intoClause != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s must not be a SELECT INTO", what),
				 errhint("Drop the INTO clause; create tables separately.")));
	if (select->withClause != NULL)
	{
		foreach(cell, select->withClause->ctes)
		{
			CommonTableExpr *cte = lfirst_node(CommonTableExpr, cell);

			if (!IsA(cte->ctequery, SelectStmt))
				ereport(ERROR,
						(errcode(ERRCODE_WRONG_OBJECT_TYPE),
						 errmsg("%s must not change data: its WITH query \"%s\" is not a SELECT",
								what, cte->ctename),
						 errhint("Run data changes separately, then pass a SELECT.")));
		}
	}
	return raw;
}

/* churnml._check_select(query text, what text) RETURNS void */
Datum
churnml_check_select(PG_FUNCTION_ARGS)
{
	churnml_one_select(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}
