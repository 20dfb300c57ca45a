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
 * An array argument is not one input but its elements, each a separate input, as
 * Aurora sends them as separate CSV fields (its page passes models of more than 100
 * features as one REAL[]). So the variadic form, invoke_endpoint('churn', NULL, 1, 2.5,
 * 'no'), an explicit array, invoke_endpoint('churn', NULL, VARIADIC ARRAY[...]), an
 * array argument, invoke_endpoint('churn', NULL, params), and mixes of arrays and
 * scalars all work. NULL inputs stay NULL (missing values to the model); a NULL array
 * (and VARIADIC NULL) has no elements to count, so the answer is NULL.
 *
 * `(f(x)).*` over a function returning a composite, e.g. a wrapper casting the output
 * to a composite type, is expanded by the planner into one call per column, each its
 * own call site: the same inputs are scored again for every column. So the last answer
 * of the running query is kept (see `LastCall`), and a call with the same endpoint,
 * batch size and inputs in the same query and command is answered from it without
 * calling PL/Python again.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/pg_list.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(churnml_aws_invoke_endpoint);

#define FIXED_ARGS 2 /* endpoint_name, max_rows_per_batch */
/* No model has more features (MAX_FEATURES in python_udfs/churnml/scoring/artifact.py):
 * refused before millions of elements are turned into text. */
#define MAX_MODEL_INPUTS 100000

/* One model input argument: a value, or an array whose elements are separate inputs. */
typedef struct InputArg
{
	FmgrInfo	output;			/* the output function of the value, or of the array's elements */
	Oid			element;		/* an array: its element type, else InvalidOid */
	int16		element_len;
	bool		element_byval;
	char		element_align;
} InputArg;

/* What one call site needs, kept in fn_extra for the life of the query. */
typedef struct InvokeCache
{
	FmgrInfo	target;			/* aws_sagemaker._invoke_endpoint(text, int4, text[]) */
	int			nargs;			/* model input arguments at this call site */
	InputArg   *args;
} InvokeCache;

/*
 * The last answer of this backend's running query. The copies of one call that `(f(x)).*`
 * makes are separate call sites (separate fn_extra), but they share the query's memory
 * context (their fn_mcxt), so that context and the command id are the key: a call of another
 * query, or after a write of this transaction (a deploy, rollback, set_threshold or
 * set_endpoint_output inserts a row, which advances the command id), never sees it. Its
 * memory is a child of the query's context and forgets itself when that goes.
 */
typedef struct LastCall
{
	MemoryContext query;		/* the fn_mcxt of the call sites it serves */
	MemoryContext memory;		/* child of `query` holding this struct (forgets it when it goes) */
	MemoryContext values;		/* child of `memory` holding the copies below, reset for each call */
	MemoryContextCallback forget;
	CommandId	command;
	text	   *endpoint;
	bool		batch_null;
	int32		batch;
	ArrayType  *inputs;
	bool		result_null;
	Datum		result;
} LastCall;

static LastCall *last_call = NULL;

static void
forget_last_call(void *arg)
{
	last_call = NULL;
}

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
	/* With VARIADIC ARRAY[...] the one argument after the fixed ones is the array. */
	cache->nargs = PG_NARGS() - FIXED_ARGS;
	cache->args = MemoryContextAllocZero(mcxt, sizeof(InputArg) * Max(cache->nargs, 1));
	for (int i = 0; i < cache->nargs; i++)
	{
		InputArg   *arg = &cache->args[i];
		Oid			type = get_fn_expr_argtype(fcinfo->flinfo, FIXED_ARGS + i);
		Oid			output_fn;
		bool		varlena;

		if (!OidIsValid(type))
			ereport(ERROR,
					(errcode(ERRCODE_INDETERMINATE_DATATYPE),
					 errmsg("could not determine the type of model input %d", i + 1)));
		arg->element = get_element_type(getBaseType(type));
		if (OidIsValid(arg->element))
		{
			get_typlenbyvalalign(arg->element, &arg->element_len, &arg->element_byval, &arg->element_align);
			type = arg->element;
		}
		getTypeOutputInfo(type, &output_fn, &varlena);
		fmgr_info_cxt(output_fn, &arg->output, mcxt);
	}
	fcinfo->flinfo->fn_extra = cache;
	return cache;
}

static Datum
as_text(FmgrInfo *output, Datum value)
{
	return CStringGetTextDatum(OutputFunctionCall(output, value));
}

/*
 * The inputs of this call as a one-dimensional text[] (NULLs kept), array arguments
 * expanded into their elements; NULL when an array argument is NULL.
 */
static ArrayType *
inputs_as_text(FunctionCallInfo fcinfo, InvokeCache *cache)
{
	Datum	  **values = palloc0(sizeof(Datum *) * Max(cache->nargs, 1));
	bool	  **nulls = palloc0(sizeof(bool *) * Max(cache->nargs, 1));
	int		   *counts = palloc0(sizeof(int) * Max(cache->nargs, 1));
	int64		n = 0;
	Datum	   *texts;
	bool	   *text_nulls;
	int			dims[1];
	int			lbs[1] = {1};
	int			k = 0;

	for (int i = 0; i < cache->nargs; i++)
	{
		InputArg   *arg = &cache->args[i];
		ArrayType  *array;

		if (!OidIsValid(arg->element))
		{
			counts[i] = 1;
			n += 1;
			continue;
		}
		if (PG_ARGISNULL(FIXED_ARGS + i))
			return NULL;
		array = PG_GETARG_ARRAYTYPE_P(FIXED_ARGS + i);
		if (ARR_NDIM(array) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("churnml: model_input arrays must be one-dimensional"),
					 errdetail("Model input argument %d has %d dimensions; the elements of a one-dimensional "
							   "array are separate model inputs.", i + 1, ARR_NDIM(array)),
					 errhint("Pass the features as separate arguments or as one flat array, in training order.")));
		deconstruct_array(array, arg->element, arg->element_len, arg->element_byval, arg->element_align,
						  &values[i], &nulls[i], &counts[i]);
		n += counts[i];
	}
	if (n > MAX_MODEL_INPUTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("churnml: invoke_endpoint takes at most %d model inputs, not " INT64_FORMAT,
						MAX_MODEL_INPUTS, n),
				 errdetail("An array argument's elements are separate model inputs, one per feature."),
				 errhint("Pass the features of the deployed model in training order.")));
	if (n == 0)
		return construct_empty_array(TEXTOID);

	texts = palloc(sizeof(Datum) * n);
	text_nulls = palloc(sizeof(bool) * n);
	for (int i = 0; i < cache->nargs; i++)
	{
		InputArg   *arg = &cache->args[i];

		if (!OidIsValid(arg->element))
		{
			text_nulls[k] = PG_ARGISNULL(FIXED_ARGS + i);
			texts[k] = text_nulls[k] ? (Datum) 0 : as_text(&arg->output, PG_GETARG_DATUM(FIXED_ARGS + i));
			k++;
			continue;
		}
		for (int j = 0; j < counts[i]; j++, k++)
		{
			text_nulls[k] = nulls[i][j];
			texts[k] = text_nulls[k] ? (Datum) 0 : as_text(&arg->output, values[i][j]);
		}
	}
	dims[0] = (int) n;
	return construct_md_array(texts, text_nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT);
}

/* Whether two varlenas hold the same bytes, whatever their headers (a copy's is never short). */
static bool
same_datum(Datum a, Datum b)
{
	Size		size = VARSIZE_ANY_EXHDR(DatumGetPointer(a));

	return size == VARSIZE_ANY_EXHDR(DatumGetPointer(b))
		&& memcmp(VARDATA_ANY(DatumGetPointer(a)), VARDATA_ANY(DatumGetPointer(b)), size) == 0;
}

/* The answer of the running query's last call when it had these arguments, else NULL. */
static LastCall *
repeated_call(FunctionCallInfo fcinfo, Datum endpoint, ArrayType *inputs)
{
	LastCall   *last = last_call;

	if (last == NULL || last->query != fcinfo->flinfo->fn_mcxt || last->command != GetCurrentCommandId(false))
		return NULL;
	if (last->batch_null != PG_ARGISNULL(1) || (!last->batch_null && last->batch != PG_GETARG_INT32(1)))
		return NULL;
	if (!same_datum(PointerGetDatum(last->endpoint), endpoint) || !same_datum(PointerGetDatum(last->inputs),
																			   PointerGetDatum(inputs)))
		return NULL;
	return last;
}

/* Keep this call's answer as the running query's last (in place of the one before). */
static void
remember_call(FunctionCallInfo fcinfo, Datum endpoint, ArrayType *inputs, bool result_null, Datum result)
{
	MemoryContext query = fcinfo->flinfo->fn_mcxt;
	MemoryContext old;
	LastCall   *last = last_call;

	if (last == NULL || last->query != query)
	{
		MemoryContext memory;

		if (last != NULL)
			MemoryContextDelete(last->memory);	/* another query's: its callback clears last_call */
		memory = AllocSetContextCreate(query, "churnml_aws invoke_endpoint last call", ALLOCSET_SMALL_SIZES);
		last = MemoryContextAllocZero(memory, sizeof(LastCall));
		last->query = query;
		last->memory = memory;
		last->values = AllocSetContextCreate(memory, "churnml_aws invoke_endpoint last answer",
											 ALLOCSET_SMALL_SIZES);
		last->forget.func = forget_last_call;
		last->forget.arg = NULL;
		MemoryContextRegisterResetCallback(memory, &last->forget);
		last_call = last;
	}
	else
		MemoryContextReset(last->values);
	old = MemoryContextSwitchTo(last->values);
	last->command = GetCurrentCommandId(false);
	last->endpoint = DatumGetTextPCopy(endpoint);
	last->batch_null = PG_ARGISNULL(1);
	last->batch = last->batch_null ? 0 : PG_GETARG_INT32(1);
	last->inputs = DatumGetArrayTypePCopy(PointerGetDatum(inputs));
	last->result_null = result_null;
	last->result = result_null ? (Datum) 0 : PointerGetDatum(DatumGetTextPCopy(result));
	MemoryContextSwitchTo(old);
}

Datum
churnml_aws_invoke_endpoint(PG_FUNCTION_ARGS)
{
	InvokeCache *cache = call_site(fcinfo);
	LOCAL_FCINFO(call, 3);
	ArrayType  *inputs;
	LastCall   *last;
	Datum		endpoint;
	Datum		result;

	inputs = inputs_as_text(fcinfo, cache);
	/* A NULL array (also VARIADIC NULL): its elements cannot be counted, so nothing to score. */
	if (inputs == NULL)
		PG_RETURN_NULL();

	InitFunctionCallInfoData(*call, &cache->target, 3, PG_GET_COLLATION(), NULL, NULL);
	call->args[0].value = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	call->args[0].isnull = PG_ARGISNULL(0);
	call->args[1].value = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	call->args[1].isnull = PG_ARGISNULL(1);
	call->args[2].value = PointerGetDatum(inputs);
	call->args[2].isnull = false;

	/* A NULL endpoint name is an error of _invoke_endpoint's: never answered from the last call. */
	if (PG_ARGISNULL(0))
	{
		result = FunctionCallInvoke(call);
		if (call->isnull)
			PG_RETURN_NULL();
		PG_RETURN_DATUM(result);
	}
	endpoint = PointerGetDatum(PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0)));
	last = repeated_call(fcinfo, endpoint, inputs);
	if (last != NULL)
	{
		if (last->result_null)
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PointerGetDatum(DatumGetTextPCopy(last->result)));
	}

	result = FunctionCallInvoke(call);
	remember_call(fcinfo, endpoint, inputs, call->isnull, result);
	if (call->isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}
