/*
 * The C half of export_query and load_from_s3: PostgreSQL's own COPY, through a spool file.
 *
 * PL/Python cannot run COPY ... TO STDOUT or FROM STDIN, and formatting or parsing
 * rows in SQL and Python costs several times what COPY does. So the loaders spool:
 *
 * churnml._copy_to_spool(query text, format text, path text, options text[])
 *                        RETURNS TABLE (path text, rows bigint)
 *   runs COPY (query) TO the spool file `path` (made by churnml._spool_file in this
 *   backend; FORMAT csv, text or binary, with COPY's defaults unless `options` says
 *   otherwise) and returns its path and the row count. export_query gives the path to
 *   its upload helper first, which uploads the file's parts while COPY is still writing it.
 *
 * churnml._copy_from_spool(target regclass, path text, format text, columns text[],
 *                          sources text[], records bigint[], skipped bigint[],
 *                          options text[]) RETURNS bigint
 *   runs COPY target (columns) FROM a spool file load_from_s3 filled with the objects'
 *   records; sources/records/skipped say which object each record came from, so a bad
 *   record is reported as "<object> line N, column c".
 *
 * `options` are COPY's other options as parsed and checked by churnml_loaders.copy_options,
 * given as values, never as SQL text: a flat array of (name, value) pairs, e.g.
 * {delimiter,|,encoding,WIN1252,force_quote,a,force_quote,b}; a list option has one pair
 * per column and force_quote * the value NULL. Only COPY's own option names are taken
 * (not format, given apart, nor freeze or an internal one), and COPY checks the values
 * again as it would in a COPY statement.
 *
 * Safety. Neither function is SECURITY DEFINER and neither reads or writes a path the
 * caller chooses: spool files are temporary files this backend made (pgsql_tmp; removed
 * when the transaction ends, counted against temp_file_limit), and
 * _copy_to_spool and _copy_from_spool accept only a path churnml._spool_file returned
 * in this backend. COPY (query) TO runs the query with the caller's privileges, as any
 * query; COPY FROM is checked here as COPY itself checks it (INSERT on every loaded
 * column, no row-level security), since calling it from C skips copy.c's checks.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/copy.h"
#include "commands/copyfrom_internal.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "executor/executor.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "tcop/utility.h"
#include "parser/parser.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"

#include "churnml.h"

#include <sys/stat.h>

PG_FUNCTION_INFO_V1(churnml_spool_file);
PG_FUNCTION_INFO_V1(churnml_copy_to_spool);
PG_FUNCTION_INFO_V1(churnml_copy_from_spool);
PG_FUNCTION_INFO_V1(churnml_copy_to_spool_options);
PG_FUNCTION_INFO_V1(churnml_copy_from_spool_options);

#define HINT_INTERNAL "This function is internal to churnml.export_query and churnml.load_from_s3; call those."

/* The spool files of this backend's current transaction: only these may be read by
 * _copy_from_spool. They are temporary files kept out of resource owners (PL/Python
 * runs each statement in a subtransaction, and a resource-owned file would be closed
 * when that ends); the transaction callback closes, and so removes, them when the
 * transaction ends, committed or not. */
typedef struct SpoolFile
{
	File		file;
	char	   *path;
} SpoolFile;

static List *spool_files = NIL;

static void
close_spool_files(XactEvent event, void *arg)
{
	ListCell   *cell;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT && event != XACT_EVENT_PREPARE &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	foreach(cell, spool_files)
	{
		SpoolFile  *spool = lfirst(cell);

		FileClose(spool->file); /* a temporary file: removed */
		pfree(spool->path);
		pfree(spool);
	}
	list_free(spool_files);
	spool_files = NIL;
}

void		_PG_init(void);

void
_PG_init(void)
{
	RegisterXactCallback(close_spool_files, NULL);
	churnml_define_limits();
	churnml_define_progress();
}

static char *
new_spool_file(void)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	SpoolFile  *spool = palloc(sizeof(SpoolFile));
	const char *name;

	spool->file = OpenTemporaryFile(true); /* interXact: not owned by the (sub)transaction */
	name = FilePathName(spool->file);
	spool->path = is_absolute_path(name) ? pstrdup(name) : psprintf("%s/%s", DataDir, name);
	spool_files = lappend(spool_files, spool);
	MemoryContextSwitchTo(old);
	return pstrdup(spool->path);
}

static bool
is_spool_file(const char *path)
{
	ListCell   *cell;
	struct stat st;

	foreach(cell, spool_files)
	{
		if (strcmp(((SpoolFile *) lfirst(cell))->path, path) == 0)
			return stat(path, &st) == 0 && S_ISREG(st.st_mode);
	}
	return false;
}

static const char *
checked_format(text *format, bool binary_ok)
{
	char	   *f = text_to_cstring(format);

	if (strcmp(f, "csv") != 0 && strcmp(f, "text") != 0 && !(binary_ok && strcmp(f, "binary") == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("format must be csv, text%s, not \"%s\"", binary_ok ? " or binary" : "", f),
				 errhint(HINT_INTERNAL)));
	return f;
}

/* Option names _copy_to_spool and _copy_from_spool take; the list ones collect a name per pair. */
static const char *const scalar_options[] = {"delimiter", "null", "quote", "escape", "encoding", "header"};
static const char *const list_options[] = {"force_quote", "force_not_null", "force_null"};

/* COPY's DefElem list from the flat (name, value) pairs of `options` (see the top of this file). */
static List *
copy_option_list(ArrayType *options)
{
	Datum	   *items;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;
	List	   *lists[lengthof(list_options)] = {NIL, NIL, NIL};
	bool		star[lengthof(list_options)] = {false, false, false};

	if (ARR_NDIM(options) > 1)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("options must be a one-dimensional array"),
						errhint(HINT_INTERNAL)));
	deconstruct_array(options, TEXTOID, -1, false, TYPALIGN_INT, &items, &nulls, &n);
	if (n % 2 != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("options must be pairs of an option name and its value"), errhint(HINT_INTERNAL)));
	for (int i = 0; i < n; i += 2)
	{
		char	   *name;
		int			k;
		bool		found = false;

		if (nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("an option name must not be NULL"),
							errhint(HINT_INTERNAL)));
		name = TextDatumGetCString(items[i]);
		for (k = 0; k < (int) lengthof(scalar_options) && !found; k++)
		{
			if (strcmp(name, scalar_options[k]) != 0)
				continue;
			if (nulls[i + 1])
				ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
								errmsg("COPY option %s must not be NULL", name), errhint(HINT_INTERNAL)));
			result = lappend(result, makeDefElem(name, (Node *) makeString(TextDatumGetCString(items[i + 1])), -1));
			found = true;
		}
		for (k = 0; k < (int) lengthof(list_options) && !found; k++)
		{
			if (strcmp(name, list_options[k]) != 0)
				continue;
			if (nulls[i + 1] && k == 0)
				star[k] = true;	/* force_quote * */
			else if (nulls[i + 1])
				ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
								errmsg("COPY option %s needs column names", name), errhint(HINT_INTERNAL)));
			else
				lists[k] = lappend(lists[k], makeString(TextDatumGetCString(items[i + 1])));
			found = true;
		}
		if (!found)
			ereport(ERROR, (errcode(ERRCODE_SYNTAX_ERROR), errmsg("COPY option \"%s\" is not taken here", name),
							errhint(HINT_INTERNAL)));
	}
	for (int k = 0; k < (int) lengthof(list_options); k++)
	{
		if (star[k] && lists[k] != NIL)
			ereport(ERROR, (errcode(ERRCODE_SYNTAX_ERROR),
							errmsg("COPY option %s is either * or a column list", list_options[k]),
							errhint(HINT_INTERNAL)));
		if (star[k])
			result = lappend(result, makeDefElem(pstrdup(list_options[k]), (Node *) makeNode(A_Star), -1));
		else if (lists[k] != NIL)
			result = lappend(result, makeDefElem(pstrdup(list_options[k]), (Node *) lists[k], -1));
	}
	return result;
}

/* churnml._spool_file() RETURNS text: a new, empty spool file, for load_from_s3 to fill or
 * for _copy_to_spool to write. */
Datum
churnml_spool_file(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(new_spool_file()));
}

/* COPY (query) TO the spool file `path` with `options` (format added here); fills the result. */
static Datum
copy_to_spool(FunctionCallInfo fcinfo, char *query, const char *format, char *path, List *options)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RawStmt    *raw;
	ParseState *pstate;
	CopyToState cstate;
	uint64		rows;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	/* Only a spool file of this session: COPY TO would otherwise write any path the
	 * server's OS user may write, which only superusers may choose. */
	if (!is_spool_file(path))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("\"%s\" is not a spool file of this session", path),
				 errhint(HINT_INTERNAL)));
	raw = churnml_one_select(query, "the exported query");

	/* Without options, COPY's own defaults, so the CSV is byte for byte COPY (query) TO ...
	 * (FORMAT csv): a value is quoted only where it needs it, and NULL (unquoted, empty)
	 * still differs from '' (written ""). */
	options = lcons(makeDefElem("format", (Node *) makeString(pstrdup(format)), -1), options);

	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = query;
	cstate = BeginCopyTo(pstate, NULL, raw, InvalidOid, path, false, NIL, options);
	rows = DoCopyTo(cstate);
	EndCopyTo(cstate);
	free_parsestate(pstate);

	InitMaterializedSRF(fcinfo, 0);
	values[0] = CStringGetTextDatum(path);
	values[1] = Int64GetDatum((int64) rows);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* churnml._copy_to_spool(query, format, path, options text[]) */
Datum
churnml_copy_to_spool_options(PG_FUNCTION_ARGS)
{
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *format = checked_format(PG_GETARG_TEXT_PP(1), true);
	char	   *path = text_to_cstring(PG_GETARG_TEXT_PP(2));

	return copy_to_spool(fcinfo, query, format, path, copy_option_list(PG_GETARG_ARRAYTYPE_P(3)));
}

/* churnml 0.2.0's _copy_to_spool(query, format, path, force_quote boolean): kept for 0.2.0's
 * install script, which an update replaces. */
Datum
churnml_copy_to_spool(PG_FUNCTION_ARGS)
{
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *format = checked_format(PG_GETARG_TEXT_PP(1), true);
	char	   *path = text_to_cstring(PG_GETARG_TEXT_PP(2));
	List	   *options = NIL;

	if (PG_GETARG_BOOL(3))
		options = list_make1(makeDefElem("force_quote", (Node *) makeNode(A_Star), -1));
	return copy_to_spool(fcinfo, query, format, path, options);
}

/* Where record `record` (1-based, counted over the whole spool file) came from. */
static char *
record_source(ArrayType *sources, ArrayType *records, ArrayType *skipped, uint64 record)
{
	Datum	   *names,
			   *counts,
			   *skips;
	bool	   *name_nulls,
			   *count_nulls,
			   *skip_nulls;
	int			n,
				n_counts,
				n_skips;
	uint64		before = 0;

	deconstruct_array(sources, TEXTOID, -1, false, TYPALIGN_INT, &names, &name_nulls, &n);
	deconstruct_array(records, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &counts, &count_nulls, &n_counts);
	deconstruct_array(skipped, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &skips, &skip_nulls, &n_skips);
	for (int i = 0; i < n && i < n_counts && i < n_skips; i++)
	{
		uint64		count = count_nulls[i] ? 0 : (uint64) DatumGetInt64(counts[i]);

		if (record <= before + count && !name_nulls[i])
			return psprintf("%s line " UINT64_FORMAT, TextDatumGetCString(names[i]),
							record - before + (skip_nulls[i] ? 0 : (uint64) DatumGetInt64(skips[i])));
		before += count;
	}
	return psprintf("record " UINT64_FORMAT, record);
}

/*
 * The range table entry COPY FROM needs, with the permission checks copy.c's DoCopy
 * makes (which calling CopyFrom directly skips): INSERT on every loaded column, and no
 * row-level security.
 */
static void
add_checked_target(ParseState *pstate, Relation rel, List *columns)
{
	ParseNamespaceItem *nsitem = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL, false, false);
	RangeTblEntry *rte = nsitem->p_rte;
	ListCell   *cell;

	rte->requiredPerms = ACL_INSERT;
	foreach(cell, columns)
	{
		char	   *name = strVal(lfirst(cell));
		AttrNumber	attnum = get_attnum(RelationGetRelid(rel), name);

		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist", name, RelationGetRelationName(rel))));
		rte->insertedCols = bms_add_member(rte->insertedCols, attnum - FirstLowInvalidHeapAttributeNumber);
	}
	ExecCheckRTPerms(pstate->p_rtable, true);
	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot load into %s: it has row-level security", RelationGetRelationName(rel)),
				 errhint("COPY FROM does not support row-level security; load into a table without it.")));
	if (XactReadOnly && !rel->rd_islocaltemp)
		PreventCommandIfReadOnly("COPY FROM");
}

static Datum
copy_from_spool(FunctionCallInfo fcinfo, List *options)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *path = text_to_cstring(PG_GETARG_TEXT_PP(1));
	const char *format = checked_format(PG_GETARG_TEXT_PP(2), true);
	ArrayType  *column_array = PG_GETARG_ARRAYTYPE_P(3);
	ArrayType  *sources = PG_GETARG_ARRAYTYPE_P(4);
	ArrayType  *records = PG_GETARG_ARRAYTYPE_P(5);
	ArrayType  *skipped = PG_GETARG_ARRAYTYPE_P(6);
	List	   *columns = NIL;
	Datum	   *names;
	bool	   *name_nulls;
	int			n_names;
	Relation	rel;
	ParseState *pstate;
	CopyFromState volatile cstate = NULL;
	MemoryContext caller = CurrentMemoryContext;
	uint64		rows = 0;

	if (!is_spool_file(path))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("\"%s\" is not a spool file of this session", path),
				 errhint(HINT_INTERNAL)));
	if (ARR_NDIM(column_array) > 1)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("columns must be a one-dimensional array")));
	deconstruct_array(column_array, TEXTOID, -1, false, TYPALIGN_INT, &names, &name_nulls, &n_names);
	for (int i = 0; i < n_names; i++)
	{
		if (name_nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("columns must not contain NULL")));
		columns = lappend(columns, makeString(TextDatumGetCString(names[i])));
	}

	if (columns == NIL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("columns must name the loaded columns"),
						errhint(HINT_INTERNAL)));
	rel = table_open(relid, RowExclusiveLock);
	pstate = make_parsestate(NULL);
	add_checked_target(pstate, rel, columns);
	PG_TRY();
	{
		cstate = BeginCopyFrom(pstate, rel, NULL, path, false, NULL, columns,
							   lcons(makeDefElem("format", (Node *) makeString(pstrdup(format)), -1), options));
		rows = CopyFrom(cstate);
	}
	PG_CATCH();
	{
		/* Say which object and line, instead of the spool file's record number. */
		ErrorData  *error;
		uint64		record = cstate != NULL ? cstate->cur_lineno : 0;
		const char *column = cstate != NULL ? cstate->cur_attname : NULL;

		MemoryContextSwitchTo(caller);
		error = CopyErrorData();
		if (record == 0 || error->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			error->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(error->sqlerrcode),
				 errmsg("cannot load %s%s%s%s", record_source(sources, records, skipped, record),
						column ? ", column \"" : "", column ? column : "", column ? "\"" : ""),
				 errdetail("%s", error->message),
				 errhint("Nothing was loaded. %s",
						 error->sqlerrcode == ERRCODE_UNIQUE_VIOLATION
						 ? "on_conflict => 'ignore' or 'replace' handles duplicate keys."
						 : "Fix the row, or pass the right format, header or columns.")));
	}
	PG_END_TRY();
	EndCopyFrom(cstate);
	free_parsestate(pstate);
	table_close(rel, NoLock);
	PG_RETURN_INT64((int64) rows);
}

/* churnml._copy_from_spool(target, path, format, columns, sources, records, skipped, options text[]) */
Datum
churnml_copy_from_spool_options(PG_FUNCTION_ARGS)
{
	return copy_from_spool(fcinfo, copy_option_list(PG_GETARG_ARRAYTYPE_P(7)));
}

/* churnml 0.2.0's _copy_from_spool, without options: kept for 0.2.0's install script. */
Datum
churnml_copy_from_spool(PG_FUNCTION_ARGS)
{
	return copy_from_spool(fcinfo, NIL);
}
