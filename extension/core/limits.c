/*
 * churnml's resource limits, as server parameters only a superuser (or a role granted
 * SET on them) can change: a churnml_user must not be able to lift them for itself.
 *
 *   churnml.max_batch_texts   texts one batch call takes (detect_sentiment_batch,
 *                             sentiment_summary, embed_batch); default 100000
 *   churnml.max_batch_size    total size of those texts, in kB (as work_mem); default 64MB
 *
 * They are defined when the library loads (_PG_init, in copy_spool.c), which
 * churnml._limits() forces: a value a user SET before that, as a placeholder, is then
 * checked against the user's privileges and dropped with a WARNING, as PostgreSQL does
 * for every SUSET parameter of a library. python_udfs/churnml/limits.py calls
 * churnml._limits() at the start of every batch call.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "funcapi.h"
#include "utils/guc.h"

#include "churnml.h"

PG_FUNCTION_INFO_V1(churnml_limits);

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
