/*
 * The C half of bulk scoring (churnml.score), one of the C files of churnml.so (see churnml.h).
 *
 * churnml.score predicts a batch of rows in PL/Python (churnml._score_batches). Data
 * crosses between SQL and PL/Python one value at a time, through Python objects and,
 * on the way back, through each value's text form (str(), then the type's input
 * function): about a microsecond a value, more than the prediction itself. These two
 * functions move the data as bytes instead:
 *
 * churnml._pack_float8(VARIADIC "any") RETURNS bytea
 *   a row's numeric features (cast to float8 by the caller) as one bytea of native
 *   float8s, NULL as NaN: one Python object per row instead of one per value, and one
 *   allocation instead of a float8send and a concatenation per feature;
 *
 * churnml._unpack_scores(keys bytea, probabilities bytea) RETURNS TABLE (key text, probability float8)
 *   a batch's results as rows:
 *     probabilities: the batch's float8 values, native byte order, 8 bytes each;
 *     keys: one key per probability, each as UTF-8 followed by a 0 byte (text never
 *           contains a 0 byte); a key that is the single byte 0xFF (never valid UTF-8)
 *           is NULL.
 *
 * Anyone who may call churnml.score may call these directly, so nothing about the
 * input is trusted: types and sizes are checked, every key is verified as UTF-8 and
 * converted to the database encoding, and a mismatch is an error with a SQLSTATE,
 * never a crash.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/tuplestore.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(churnml_unpack_scores);

#define NULL_KEY ((char) 0xFF)

Datum
churnml_unpack_scores(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bytea	   *keys = PG_GETARG_BYTEA_PP(0);
	bytea	   *probabilities = PG_GETARG_BYTEA_PP(1);
	const char *key = VARDATA_ANY(keys);
	const char *keys_end = key + VARSIZE_ANY_EXHDR(keys);
	const char *probability = VARDATA_ANY(probabilities);
	Size		probabilities_len = VARSIZE_ANY_EXHDR(probabilities);
	Size		rows;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (probabilities_len % sizeof(float8) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("probabilities must hold whole float8 values"),
				 errdetail("It has %zu bytes, not a multiple of 8.", probabilities_len),
				 errhint("churnml._unpack_scores is internal to churnml.score; call that instead.")));
	rows = probabilities_len / sizeof(float8);

	InitMaterializedSRF(fcinfo, 0);

	for (Size i = 0; i < rows; i++)
	{
		const char *end = key < keys_end ? memchr(key, '\0', keys_end - key) : NULL;
		Size		len;

		if (end == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("keys holds fewer keys than there are probabilities"),
					 errdetail("%zu probabilities, %zu keys.", rows, i),
					 errhint("churnml._unpack_scores is internal to churnml.score; call that instead.")));
		len = end - key;
		if (len == 1 && key[0] == NULL_KEY)
		{
			nulls[0] = true;
			values[0] = (Datum) 0;
		}
		else
		{
			/* verifies the UTF-8 (22021 when invalid) and converts to the database encoding */
			char	   *converted = pg_any_to_server(key, (int) len, PG_UTF8);

			nulls[0] = false;
			values[0] = PointerGetDatum(cstring_to_text_with_len(converted,
																 converted == key ? (int) len : (int) strlen(converted)));
			if (converted != key)
				pfree(converted);
		}
		{
			float8		p;

			memcpy(&p, probability + i * sizeof(float8), sizeof(float8));
			values[1] = Float8GetDatum(p);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		if (!nulls[0])
			pfree(DatumGetPointer(values[0]));
		key = end + 1;
		if ((i & 4095) == 4095)
			CHECK_FOR_INTERRUPTS();
	}
	if (key != keys_end)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keys holds more keys than there are probabilities"),
				 errdetail("%zu probabilities.", rows),
				 errhint("churnml._unpack_scores is internal to churnml.score; call that instead.")));
	return (Datum) 0;
}

/*
 * churnml._pack_float8(VARIADIC "any") RETURNS bytea: its float8 arguments as one bytea
 * of native float8s, NULL as NaN.
 *
 * Bulk scoring reads each row's numeric features through PL/Python's cursor; one bytea
 * per row costs one Python object instead of one per value. Built in SQL, the bytea
 * took a float8send and a concatenation (two allocations) per feature; here it is one
 * allocation per row. The caller casts every argument to float8 ("any" only so that
 * one function takes any number of them).
 */
PG_FUNCTION_INFO_V1(churnml_pack_float8);

Datum
churnml_pack_float8(PG_FUNCTION_ARGS)
{
	int			nargs = PG_NARGS();
	bytea	   *result;
	char	   *out;

	if (get_fn_expr_variadic(fcinfo->flinfo))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("churnml._pack_float8 takes its values as separate arguments"),
				 errhint("churnml._pack_float8 is internal to churnml.score; call that instead.")));
	if (fcinfo->flinfo->fn_extra == NULL)
	{
		/* once per call site: every argument must be float8 */
		for (int i = 0; i < nargs; i++)
		{
			Oid			type = get_fn_expr_argtype(fcinfo->flinfo, i);

			if (type != FLOAT8OID)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("argument %d of churnml._pack_float8 is %s, not double precision",
								i + 1, format_type_be(type)),
						 errhint("Cast every argument to float8.")));
		}
		fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, 1);
	}
	result = palloc(VARHDRSZ + nargs * sizeof(float8));
	SET_VARSIZE(result, VARHDRSZ + nargs * sizeof(float8));
	out = VARDATA(result);
	for (int i = 0; i < nargs; i++)
	{
		float8		v = PG_ARGISNULL(i) ? get_float8_nan() : PG_GETARG_FLOAT8(i);

		memcpy(out + i * sizeof(float8), &v, sizeof(float8));
	}
	PG_RETURN_BYTEA_P(result);
}
