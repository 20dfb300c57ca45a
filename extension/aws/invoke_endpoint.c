/*
 * aws_sagemaker.invoke_endpoint(endpoint_name, max_rows_per_batch, VARIADIC model_input "any")
 *
 * Aurora's signature takes its model inputs as VARIADIC "any", and only a C function
 * can: PL/Python, PL/pgSQL and SQL functions all refuse "any" arguments. So this
 * file does just that part. It turns every input into its text form with the
 * type's own output function (what Aurora does when it writes the inputs as one CSV
 * line for SageMaker) and hands the endpoint name, the batch size and the text[] to
 * the PL/Python function aws_sagemaker._invoke_endpoint(text, integer, text[]),
 * which does the real work: validation, the deployed model, the prediction.
 *
 * Both the variadic form, invoke_endpoint('churn', NULL, 1, 2.5, 'no'), and an
 * explicit array, invoke_endpoint('churn', NULL, VARIADIC ARRAY[...]), work.
 * NULL inputs stay NULL (missing values to the model).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/pg_list.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(churnml_aws_invoke_endpoint);

#define FIXED_ARGS 2 /* endpoint_name, max_rows_per_batch */

/* What one call site needs, kept in fn_extra for the life of the query. */
typedef struct InvokeCache
{
	FmgrInfo	target;			/* aws_sagemaker._invoke_endpoint(text, int4, text[]) */
	int			ninputs;		/* model inputs at this call site (separate arguments) */
	FmgrInfo   *output;			/* one output function per input */
	Oid			array_element;	/* VARIADIC ARRAY[...]: the element type, else InvalidOid */
	FmgrInfo	element_output;
	int16		element_len;
	bool		element_byval;
	char		element_align;
} InvokeCache;

static Oid
target_function(void)
{
	Oid			argtypes[3] = {TEXTOID, INT4OID, TEXTARRAYOID};
	List	   *name = list_make2(makeString("aws_sagemaker"), makeString("_invoke_endpoint"));

	return LookupFuncName(name, 3, argtypes, false);
}

static InvokeCache *
call_site(FunctionCallInfo fcinfo)
{
	InvokeCache *cache = (InvokeCache *) fcinfo->flinfo->fn_extra;
	MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;

	if (cache != NULL)
		return cache;

	cache = MemoryContextAllocZero(mcxt, sizeof(InvokeCache));
	fmgr_info_cxt(target_function(), &cache->target, mcxt);

	if (get_fn_expr_variadic(fcinfo->flinfo))
	{
		Oid			array_type = get_fn_expr_argtype(fcinfo->flinfo, FIXED_ARGS);
		Oid			output_fn;
		bool		varlena;

		cache->array_element = get_element_type(array_type);
		if (!OidIsValid(cache->array_element))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("VARIADIC argument of invoke_endpoint must be an array")));
		getTypeOutputInfo(cache->array_element, &output_fn, &varlena);
		fmgr_info_cxt(output_fn, &cache->element_output, mcxt);
		get_typlenbyvalalign(cache->array_element, &cache->element_len,
							 &cache->element_byval, &cache->element_align);
	}
	else
	{
		cache->ninputs = PG_NARGS() - FIXED_ARGS;
		cache->output = MemoryContextAllocZero(mcxt, sizeof(FmgrInfo) * Max(cache->ninputs, 1));
		for (int i = 0; i < cache->ninputs; i++)
		{
			Oid			type = get_fn_expr_argtype(fcinfo->flinfo, FIXED_ARGS + i);
			Oid			output_fn;
			bool		varlena;

			if (!OidIsValid(type))
				ereport(ERROR,
						(errcode(ERRCODE_INDETERMINATE_DATATYPE),
						 errmsg("could not determine the type of model input %d", i + 1)));
			getTypeOutputInfo(type, &output_fn, &varlena);
			fmgr_info_cxt(output_fn, &cache->output[i], mcxt);
		}
	}
	fcinfo->flinfo->fn_extra = cache;
	return cache;
}

/* The inputs of this call as a one-dimensional text[] (NULLs kept). */
static ArrayType *
inputs_as_text(FunctionCallInfo fcinfo, InvokeCache *cache)
{
	Datum	   *texts;
	bool	   *nulls;
	int			n;
	int			dims[1];
	int			lbs[1] = {1};

	if (OidIsValid(cache->array_element))
	{
		ArrayType  *array = PG_GETARG_ARRAYTYPE_P(FIXED_ARGS);
		Datum	   *values;

		if (ARR_NDIM(array) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("VARIADIC model_input must be a one-dimensional array")));
		deconstruct_array(array, cache->array_element, cache->element_len, cache->element_byval,
						  cache->element_align, &values, &nulls, &n);
		texts = palloc(sizeof(Datum) * Max(n, 1));
		for (int i = 0; i < n; i++)
			texts[i] = nulls[i] ? (Datum) 0
				: CStringGetTextDatum(OutputFunctionCall(&cache->element_output, values[i]));
	}
	else
	{
		n = cache->ninputs;
		texts = palloc(sizeof(Datum) * Max(n, 1));
		nulls = palloc(sizeof(bool) * Max(n, 1));
		for (int i = 0; i < n; i++)
		{
			nulls[i] = PG_ARGISNULL(FIXED_ARGS + i);
			texts[i] = nulls[i] ? (Datum) 0
				: CStringGetTextDatum(OutputFunctionCall(&cache->output[i], PG_GETARG_DATUM(FIXED_ARGS + i)));
		}
	}
	dims[0] = n;
	if (n == 0)
		return construct_empty_array(TEXTOID);
	return construct_md_array(texts, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT);
}

Datum
churnml_aws_invoke_endpoint(PG_FUNCTION_ARGS)
{
	InvokeCache *cache = call_site(fcinfo);
	LOCAL_FCINFO(call, 3);
	Datum		result;

	/* With VARIADIC NULL the whole input list is NULL: nothing to score. */
	if (OidIsValid(cache->array_element) && PG_ARGISNULL(FIXED_ARGS))
		PG_RETURN_NULL();

	InitFunctionCallInfoData(*call, &cache->target, 3, PG_GET_COLLATION(), NULL, NULL);
	call->args[0].value = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	call->args[0].isnull = PG_ARGISNULL(0);
	call->args[1].value = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	call->args[1].isnull = PG_ARGISNULL(1);
	call->args[2].value = PointerGetDatum(inputs_as_text(fcinfo, cache));
	call->args[2].isnull = false;

	result = FunctionCallInvoke(call);
	if (call->isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}
