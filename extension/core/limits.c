/*
 * churnml's resource limits, as server parameters only a superuser (or a role granted
 * SET on them) can change: a churnml_user must not be able to lift them for itself.
 *
 *   churnml.max_batch_texts   texts one batch call takes (detect_sentiment_batch,
 *                             sentiment_summary, embed_batch); default 100000
 *   churnml.max_batch_size    total size of those texts, in kB (as work_mem); default 64MB
 *
 * They are defined when the library loads (_PG_init, in copy_spool.c), which calling
 * any function here forces: a value a user SET before that, as a placeholder, is then
 * checked against the user's privileges and dropped with a WARNING, as PostgreSQL does
 * for every SUSET parameter of a library.
 *
 * The limits are enforced here, in C, on the array as the server holds it: the public
 * batch functions are SQL functions that pass their array through
 * churnml._checked_batch(array, name) before the PL/Python function that does the work
 * receives it. PL/Python converts an array argument into Python objects before any
 * Python runs (several times the array's size), so a check in Python would come after
 * the memory was spent. churnml.predict (predict.c) checks its per-row arrays the same
 * way, with fixed limits.
 */
#include "postgres.h"

#include <limits.h>

#include "access/detoast.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "churnml.h"

PG_FUNCTION_INFO_V1(churnml_limits);
PG_FUNCTION_INFO_V1(churnml_checked_batch);


static int	churnml_max_batch_texts = 100000;
static int	churnml_max_batch_size_kb = 64 * 1024;

void
churnml_define_limits(void)
{
	DefineCustomIntVariable("churnml.max_batch_texts",
							"Most texts one churnml batch call accepts.",
							"detect_sentiment_batch, sentiment_summary and embed_batch refuse more "
							"(SQLSTATE 54000); they work through the texts in bounded chunks.",
							&churnml_max_batch_texts, 100000, 1, INT_MAX,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("churnml.max_batch_size",
							"Largest total size of the texts one churnml batch call accepts.",
							"detect_sentiment_batch, sentiment_summary and embed_batch refuse more "
							"(SQLSTATE 54000).",
							&churnml_max_batch_size_kb, 64 * 1024, 1, INT_MAX / 1024,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
}

/* churnml._limits(OUT max_batch_texts int, OUT max_batch_size bigint): the values (size in bytes) */
Datum
churnml_limits(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("churnml._limits must be called in a context that accepts a record")));
	values[0] = Int32GetDatum(churnml_max_batch_texts);
	values[1] = Int64GetDatum((int64) churnml_max_batch_size_kb * 1024);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

void
churnml_check_array(Datum value, const char *what, int64 max_elements, int64 max_bytes, const char *elements_setting,
			const char *size_setting)
{
	Size		size = toast_raw_datum_size(value);
	ArrayType  *array;
	int64		elements;

	/* the size first: it needs no detoasting */
	if ((int64) size > max_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("churnml: %s holds %.1f MB, more than one call takes", what, (double) size / (1024.0 * 1024.0)),
				 size_setting ? errdetail("%s is %.1f MB.", size_setting, (double) max_bytes / (1024.0 * 1024.0))
				 : errdetail("At most %.1f MB.", (double) max_bytes / (1024.0 * 1024.0)),
				 size_setting ? errhint("Pass the values in several calls; a superuser can raise %s.", size_setting)
				 : errhint("Pass only the model's features.")));
	array = DatumGetArrayTypeP(value);
	elements = ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
	if (elements > max_elements)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("churnml: %s has " INT64_FORMAT " elements, more than one call takes", what, elements),
				 elements_setting ? errdetail("%s is " INT64_FORMAT ".", elements_setting, max_elements)
				 : errdetail("At most " INT64_FORMAT ".", max_elements),
				 elements_setting ? errhint("Pass the texts in several calls (e.g. by ranges of ids); a superuser "
											"can raise %s.", elements_setting)
				 : errhint("Pass only the model's features.")));
}

/*
 * churnml._checked_batch(anyarray, what text) RETURNS anyarray: the array itself, after
 * checking it against churnml.max_batch_texts and churnml.max_batch_size (54000 otherwise;
 * `what` names the argument in the message).
 */
Datum
churnml_checked_batch(PG_FUNCTION_ARGS)
{
	Datum		value = PG_GETARG_DATUM(0);

	churnml_check_array(value, text_to_cstring(PG_GETARG_TEXT_PP(1)), churnml_max_batch_texts,
				(int64) churnml_max_batch_size_kb * 1024, "churnml.max_batch_texts", "churnml.max_batch_size");
	PG_RETURN_DATUM(value);
}
