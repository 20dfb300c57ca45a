/*
 * churnml.predict(model_id bigint, numbers float8[], texts text[]) RETURNS float8
 *
 * The scoring itself is the PL/Python function churnml._predict(bigint, float8[], text[]).
 * This C front checks the two arrays first: PL/Python converts an array argument into
 * Python objects (several times its size) before any Python runs, so a check in Python
 * would come after a churnml_user's 100-million-element array had cost gigabytes. A row of
 * features has at most 100,000 elements (MAX_FEATURES in python_udfs/churnml/scoring/
 * artifact.py) and is far below 16 MB. C rather than a SQL wrapper: predict stays one
 * function, shown and shipped to shards by postgres_fdw as churnml.predict(...), and a call
 * costs a C call, not a SQL function call per row.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/pg_list.h"
#include "nodes/value.h"
#include "parser/parse_func.h"

#include "churnml.h"

PG_FUNCTION_INFO_V1(churnml_predict);

#define MAX_FEATURE_ELEMENTS 100000
#define MAX_FEATURE_BYTES (16 * 1024 * 1024)

Datum
churnml_predict(PG_FUNCTION_ARGS)
{
	FmgrInfo   *target = (FmgrInfo *) fcinfo->flinfo->fn_extra;
	LOCAL_FCINFO(call, 3);
	Datum		result;

	if (target == NULL)
	{
		Oid			argtypes[3] = {INT8OID, FLOAT8ARRAYOID, TEXTARRAYOID};
		List	   *name = list_make2(makeString("churnml"), makeString("_predict"));

		target = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(FmgrInfo));
		fmgr_info_cxt(LookupFuncName(name, 3, argtypes, false), target, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = target;
	}
	/* STRICT: the arguments are not NULL */
	churnml_check_array(PG_GETARG_DATUM(1), "numbers", MAX_FEATURE_ELEMENTS, MAX_FEATURE_BYTES, NULL, NULL);
	churnml_check_array(PG_GETARG_DATUM(2), "texts", MAX_FEATURE_ELEMENTS, MAX_FEATURE_BYTES, NULL, NULL);

	InitFunctionCallInfoData(*call, target, 3, PG_GET_COLLATION(), NULL, NULL);
	for (int i = 0; i < 3; i++)
	{
		call->args[i].value = PG_GETARG_DATUM(i);
		call->args[i].isnull = false;
	}
	result = FunctionCallInvoke(call);
	if (call->isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}
