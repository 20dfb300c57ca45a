/*
 * The C half of bulk scoring (churnml.score) and of the dashboard view (churnml.customer_risk),
 * one of the C files of churnml.so (see churnml.h).
 *
 * Both predict a batch of rows in PL/Python (churnml._score_batches,
 * churnml._customer_risk_batches). Data crosses between SQL and PL/Python one value at a
 * time, through Python objects and, on the way back, through each value's text form
 * (str(), then the type's input function): about a microsecond a value, more than the
 * prediction itself. These functions move the data as bytes instead:
 *
 * churnml._pack_float8(VARIADIC "any") RETURNS bytea
 *   a row's numeric features (cast to float8 by the caller) as one bytea of native
 *   float8s, NULL as NaN: one Python object per row instead of one per value, and one
 *   allocation instead of a float8send and a concatenation per feature;
 *
 * churnml._unpack_scores(keys bytea, probabilities bytea)
 *     RETURNS TABLE (key text, probability float8)
 * churnml._unpack_risk(keys bytea, probabilities bytea, bands bytea)
 *     RETURNS TABLE (customer_key text, will_churn float8, risk_band text)
 *   a batch's results as rows: one C function, churnml_unpack_batch, behind both. Its
 *   i-th argument holds the i-th column of its declared result, by the column's type:
 *     float8: the batch's values, native byte order, 8 bytes each; NaN is NULL (churnml's
 *             probabilities and contributions are never NaN);
 *     text:   one value per row, each as UTF-8 followed by a 0 byte (text never contains
 *             a 0 byte); the single byte 0xFF (never valid UTF-8) is NULL.
 *   The first float8 column gives the number of rows; every other column must hold
 *   exactly as many values.
 *
 * churnml._float8_at(packed bytea, n bigint) RETURNS float8
 *   one value of such a float8 column (customer_risk's explanations, read per customer).
 *
 * Anyone who may call churnml.score may call these directly, so nothing about the
 * input is trusted: types and sizes are checked, every text value is verified as UTF-8
 * and converted to the database encoding, and a mismatch is an error with a SQLSTATE,
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

PG_FUNCTION_INFO_V1(churnml_unpack_batch);

#define NULL_TEXT ((char) 0xFF)
#define MAX_COLUMNS 8
#define HINT_UNPACK "churnml's unpack functions are internal to churnml.score and churnml.customer_risk; use those."

Datum
churnml_unpack_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	desc;
	int			ncols;
	const char *at[MAX_COLUMNS];
	const char *end[MAX_COLUMNS];
	bool		is_text[MAX_COLUMNS];
	int			counted = -1;	/* the float8 column that gives the row count */
	Size		rows = 0;
	Datum		values[MAX_COLUMNS];
	bool		nulls[MAX_COLUMNS];

	InitMaterializedSRF(fcinfo, 0);
	desc = rsinfo->setDesc;
	ncols = desc->natts;
	if (ncols != PG_NARGS() || ncols > MAX_COLUMNS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("churnml_unpack_batch needs one bytea argument per result column, at most %d", MAX_COLUMNS)));
	for (int i = 0; i < ncols; i++)
	{
		Form_pg_attribute column = TupleDescAttr(desc, i);
		bytea	   *data = PG_GETARG_BYTEA_PP(i);	/* STRICT: not NULL */
		Size		len = VARSIZE_ANY_EXHDR(data);

		if (column->atttypid != TEXTOID && column->atttypid != FLOAT8OID)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
					 errmsg("churnml_unpack_batch returns text and float8 columns only")));
		is_text[i] = column->atttypid == TEXTOID;
		at[i] = VARDATA_ANY(data);
		end[i] = at[i] + len;
		if (is_text[i])
			continue;
		if (len % sizeof(float8) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must hold whole float8 values", NameStr(column->attname)),
					 errdetail("It has %zu bytes, not a multiple of 8.", len),
					 errhint(HINT_UNPACK)));
		if (counted < 0)
		{
			counted = i;
			rows = len / sizeof(float8);
		}
		else if (len / sizeof(float8) != rows)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s holds %zu values, but %s holds %zu", NameStr(column->attname), len / sizeof(float8),
							NameStr(TupleDescAttr(desc, counted)->attname), rows),
					 errhint(HINT_UNPACK)));
	}
	if (counted < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("churnml_unpack_batch needs a float8 column to count the rows")));

	for (Size row = 0; row < rows; row++)
	{
		for (int i = 0; i < ncols; i++)
		{
			if (!is_text[i])
			{
				float8		v;

				memcpy(&v, at[i] + row * sizeof(float8), sizeof(float8));
				nulls[i] = isnan(v);
				values[i] = nulls[i] ? (Datum) 0 : Float8GetDatum(v);
			}
			else
			{
				const char *stop = at[i] < end[i] ? memchr(at[i], '\0', end[i] - at[i]) : NULL;
				Size		len;

				if (stop == NULL)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("%s holds fewer values than there are rows", NameStr(TupleDescAttr(desc, i)->attname)),
							 errdetail("%zu rows, %zu values.", rows, row),
							 errhint(HINT_UNPACK)));
				len = stop - at[i];
				if (len == 1 && at[i][0] == NULL_TEXT)
				{
					nulls[i] = true;
					values[i] = (Datum) 0;
				}
				else
				{
					/* verifies the UTF-8 (22021 when invalid) and converts to the database encoding */
					char	   *converted = pg_any_to_server(at[i], (int) len, PG_UTF8);

					nulls[i] = false;
					values[i] = PointerGetDatum(cstring_to_text_with_len(converted,
																		 converted == at[i] ? (int) len : (int) strlen(converted)));
					if (converted != at[i])
						pfree(converted);
				}
				at[i] = stop + 1;
			}
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		for (int i = 0; i < ncols; i++)
			if (is_text[i] && !nulls[i])
				pfree(DatumGetPointer(values[i]));
		if ((row & 4095) == 4095)
			CHECK_FOR_INTERRUPTS();
	}
	for (int i = 0; i < ncols; i++)
		if (is_text[i] && at[i] != end[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s holds more values than there are rows", NameStr(TupleDescAttr(desc, i)->attname)),
					 errdetail("%zu rows.", rows),
					 errhint(HINT_UNPACK)));
	return (Datum) 0;
}

/*
 * 0.2.0's install script names this symbol for churnml._unpack_scores: it is the same
 * function, so that script still loads (CREATE EXTENSION ... VERSION '0.2.0', then an
 * update) and a 0.2.0 database keeps scoring with this library before its update.
 */
PG_FUNCTION_INFO_V1(churnml_unpack_scores);

Datum
churnml_unpack_scores(PG_FUNCTION_ARGS)
{
	return churnml_unpack_batch(fcinfo);
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

/*
 * churnml._float8_at(packed bytea, n bigint) RETURNS float8: the n-th (1-based) of a bytea of
 * native float8s, NaN as NULL.
 *
 * churnml.customer_risk reads each customer's explanation from its batch's result this way,
 * in its select list, so that PostgreSQL computes the batch's explanations only when a query
 * reads those columns; a float8[] subscript would do the same but costs a text round trip per
 * element on the way out of PL/Python. Out of range is 22023, never a read past the value.
 */
PG_FUNCTION_INFO_V1(churnml_float8_at);

Datum
churnml_float8_at(PG_FUNCTION_ARGS)
{
	bytea	   *values = PG_GETARG_BYTEA_PP(0);
	int64		n = PG_GETARG_INT64(1);
	int64		count;
	float8		v;

	if (VARSIZE_ANY_EXHDR(values) % sizeof(float8) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("values holds %d bytes, not a whole number of float8s", (int) VARSIZE_ANY_EXHDR(values)),
				 errhint(HINT_UNPACK)));
	count = VARSIZE_ANY_EXHDR(values) / sizeof(float8);
	if (n < 1 || n > count)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("position " INT64_FORMAT " is outside the " INT64_FORMAT " values", n, count),
				 errhint(HINT_UNPACK)));
	memcpy(&v, VARDATA_ANY(values) + (n - 1) * sizeof(float8), sizeof(float8));
	if (isnan(v))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(v);
}
