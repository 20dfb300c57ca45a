/*
 * What churnml's Python needs from the server while a parallel query runs, without
 * PL/Python's SPI. One of the C files of churnml.so (see churnml.h); called from Python
 * through ctypes (python_udfs/churnml/parallel_read.py), never from SQL.
 *
 * Why: plpy.execute, plpy.prepare and plpy.cursor run every statement in a subtransaction,
 * and PostgreSQL forbids subtransactions while IsInParallelMode(), in parallel workers and
 * in the leader during a parallel query ("cannot start subtransactions during a parallel
 * operation", raised before PL/Python's own error handling, through the interpreter's
 * frames). So the scoring and sentiment functions could only be PARALLEL UNSAFE. In
 * parallel mode they read what they need here instead:
 *
 * churnml_parallel_read(query, nargs, argtypes, args)
 *   runs one read-only statement (churnml's own fixed, schema-qualified SQL: a deployment,
 *   an artifact) with SPI, read_only = true (the statement's snapshot, as a STABLE
 *   function's SPI calls see it), parameters given as text with their type names. Every
 *   value comes back as its text form, except bytea, which comes back as its bytes.
 * churnml_parallel_check_interrupts()
 *   CHECK_FOR_INTERRUPTS(), for long Python work (loading a big model) in parallel mode:
 *   what churnml.interrupts does with a `SELECT 1` through plpy.execute otherwise.
 *
 * No subtransaction means nothing can roll back what an error left half done, so errors are
 * caught exactly as PL/Python's plpy.notice catches an error of ereport (PG_TRY/PG_CATCH,
 * CopyErrorData, FlushErrorState) and returned, SQLSTATE, message, detail and hint; the
 * Python caller raises it at once as the function's ERROR (churnml.parallel_read), so the
 * transaction's abort cleans up, as after any other error. A FATAL (a terminated backend or
 * worker) never returns: the process exits as anywhere else. Catching every ERROR here
 * matters for another reason too: a longjmp out of this function would unwind through
 * ctypes' and the interpreter's C frames.
 *
 * Each result lives in a memory context of its own (under TopMemoryContext) until
 * churnml_parallel_free(); a result left unfreed is freed by the next call.
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "churnml.h"

/* Read by Python with ctypes (churnml/parallel_read.py, class _Result): keep the two in step. */
typedef struct ChurnmlReadResult
{
	int32		ok;				/* 1: rows below; 0: the error below */
	int32		nrows;
	int32		ncols;
	char	  **names;			/* ncols column names */
	Oid		   *types;			/* ncols type OIDs */
	char	  **values;			/* nrows * ncols: text form, bytes for bytea, NULL for SQL NULL */
	int64	   *lengths;		/* nrows * ncols: bytes of each value (-1 for NULL) */
	char		sqlstate[6];
	char	   *message;
	char	   *detail;
	char	   *hint;
	MemoryContext context;		/* holds all of the above */
} ChurnmlReadResult;

extern PGDLLEXPORT ChurnmlReadResult *churnml_parallel_read(const char *query, int nargs, const char **argtypes,
															 const char **args);
extern PGDLLEXPORT ChurnmlReadResult *churnml_parallel_check_interrupts(void);
extern PGDLLEXPORT void churnml_parallel_free(ChurnmlReadResult *result);

static MemoryContext unfreed = NULL;

/* What a call returns when not even its result could be allocated (never freed: no context). */
static ChurnmlReadResult out_of_memory = {.ok = 0, .sqlstate = "53200", .message = "churnml: out of memory"};

/* A new result in a context of its own, or NULL (out of memory: the error is flushed). */
static ChurnmlReadResult *
new_result(void)
{
	MemoryContext caller = CurrentMemoryContext;
	ChurnmlReadResult *volatile result = NULL;

	if (unfreed != NULL)
	{
		MemoryContextDelete(unfreed);
		unfreed = NULL;
	}
	PG_TRY();
	{
		MemoryContext context = AllocSetContextCreate(TopMemoryContext, "churnml parallel read",
													  ALLOCSET_DEFAULT_SIZES);

		result = MemoryContextAllocZero(context, sizeof(ChurnmlReadResult));
		result->context = context;
		unfreed = context;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		FlushErrorState();
		result = NULL;
	}
	PG_END_TRY();
	return result;
}

static void
set_error(ChurnmlReadResult *result, MemoryContext caller)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(result->context);
	edata = CopyErrorData();
	FlushErrorState();
	result->ok = 0;
	strlcpy(result->sqlstate, unpack_sql_state(edata->sqlerrcode), sizeof(result->sqlstate));
	result->message = edata->message;
	result->detail = edata->detail;
	result->hint = edata->hint;
	MemoryContextSwitchTo(caller);
}

/* The rows of SPI_tuptable, copied into the result's context. */
static void
copy_rows(ChurnmlReadResult *result)
{
	SPITupleTable *table = SPI_tuptable;
	TupleDesc	desc = table->tupdesc;
	uint64		nrows = SPI_processed;
	int			ncols = desc->natts;
	FmgrInfo   *outputs;
	MemoryContext old;

	if (nrows > PG_INT32_MAX / Max(ncols, 1))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("churnml: a catalog read returned too many rows")));
	old = MemoryContextSwitchTo(result->context);
	result->nrows = (int32) nrows;
	result->ncols = ncols;
	result->names = palloc0(sizeof(char *) * Max(ncols, 1));
	result->types = palloc0(sizeof(Oid) * Max(ncols, 1));
	result->values = palloc0(sizeof(char *) * Max(nrows * ncols, 1));
	result->lengths = palloc0(sizeof(int64) * Max(nrows * ncols, 1));
	outputs = palloc0(sizeof(FmgrInfo) * Max(ncols, 1));
	for (int c = 0; c < ncols; c++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, c);
		Oid			output;
		bool		varlena;

		result->names[c] = pstrdup(NameStr(attr->attname));
		result->types[c] = attr->atttypid;
		getTypeOutputInfo(attr->atttypid, &output, &varlena);
		fmgr_info(output, &outputs[c]);
	}
	for (uint64 r = 0; r < nrows; r++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int c = 0; c < ncols; c++)
		{
			bool		isnull;
			Datum		value = SPI_getbinval(table->vals[r], desc, c + 1, &isnull);
			uint64		at = r * ncols + c;

			if (isnull)
			{
				result->lengths[at] = -1;
				continue;
			}
			if (result->types[c] == BYTEAOID)
			{
				bytea	   *bytes = DatumGetByteaPP(value);	/* detoasted (an artifact: up to 64 MiB) */
				int64		size = VARSIZE_ANY_EXHDR(bytes);

				result->values[at] = palloc(Max(size, 1));
				memcpy(result->values[at], VARDATA_ANY(bytes), size);
				result->lengths[at] = size;
			}
			else
			{
				result->values[at] = OutputFunctionCall(&outputs[c], value);
				result->lengths[at] = strlen(result->values[at]);
			}
		}
	}
	MemoryContextSwitchTo(old);
}

ChurnmlReadResult *
churnml_parallel_read(const char *query, int nargs, const char **argtypes, const char **args)
{
	MemoryContext caller = CurrentMemoryContext;
	ChurnmlReadResult *result = new_result();

	if (result == NULL)
		return &out_of_memory;
	PG_TRY();
	{
		Oid		   *types = palloc0(sizeof(Oid) * Max(nargs, 1));
		Datum	   *values = palloc0(sizeof(Datum) * Max(nargs, 1));
		char	   *nulls = palloc0(Max(nargs, 1) + 1);
		int			status;

		for (int i = 0; i < nargs; i++)
		{
			int32		typmod;
			Oid			input;
			Oid			ioparam;

			parseTypeString(argtypes[i], &types[i], &typmod, false);
			nulls[i] = args[i] == NULL ? 'n' : ' ';
			if (args[i] != NULL)
			{
				getTypeInputInfo(types[i], &input, &ioparam);
				values[i] = OidInputFunctionCall(input, (char *) args[i], ioparam, typmod);
			}
		}
		/* Its own SPI level, inside PL/Python's: the tuple table is this function's to free. */
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "churnml: SPI_connect failed");
		status = SPI_execute_with_args(query, nargs, types, values, nulls, true, 0);
		if (status != SPI_OK_SELECT)
			elog(ERROR, "churnml: a catalog read failed: %s", SPI_result_code_string(status));
		copy_rows(result);
		SPI_finish();
		result->ok = 1;
	}
	PG_CATCH();
	{
		/* the caller raises this at once; the transaction's abort unwinds SPI and the rest */
		set_error(result, caller);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	return result;
}

ChurnmlReadResult *
churnml_parallel_check_interrupts(void)
{
	MemoryContext caller = CurrentMemoryContext;
	ChurnmlReadResult *result = new_result();

	if (result == NULL)
		return &out_of_memory;
	PG_TRY();
	{
		CHECK_FOR_INTERRUPTS();
		result->ok = 1;
	}
	PG_CATCH();
	{
		set_error(result, caller);
	}
	PG_END_TRY();
	return result;
}

void
churnml_parallel_free(ChurnmlReadResult *result)
{
	if (result == NULL || result == &out_of_memory)
		return;
	if (unfreed == result->context)
		unfreed = NULL;
	MemoryContextDelete(result->context);
}
