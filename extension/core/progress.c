/*
 * churnml.progress's C part, one of the C files of churnml.so (see churnml.h and
 * python_udfs/churnml/progress.py, which writes and reads the progress files).
 *
 * churnml._progress_file() RETURNS text
 *   the path of this backend's progress file, $PGDATA/pg_stat_tmp/churnml_progress.<pid>,
 *   and, on the first call in a backend, the file's removal registered for when the
 *   backend exits (on_proc_exit: a normal end, a FATAL error, pg_terminate_backend), so a
 *   file is never left by a backend that ends, only by one that crashes. Python has no
 *   hook there: PL/Python never finalizes its interpreter.
 *
 * churnml.progress_notice_interval (integer, seconds, default 5, USERSET)
 *   how often long churnml work says how far it is, as a NOTICE; 0 turns the NOTICEs off.
 *   Defined when the library loads (_PG_init, in copy_spool.c).
 */
#include "postgres.h"

#include <unistd.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "churnml.h"

PG_FUNCTION_INFO_V1(churnml_progress_file);

static int	churnml_progress_notice_interval = 5;
static char progress_path[MAXPGPATH];

void
churnml_define_progress(void)
{
	DefineCustomIntVariable("churnml.progress_notice_interval",
							"How often long churnml work reports its progress as a NOTICE; 0 turns that off.",
							"Train, train_sentiment, score, customer_risk, export_query, load_from_s3 and the "
							"sentiment batch functions; churnml.progress shows the same to every session.",
							&churnml_progress_notice_interval,
							5, 0, 86400,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
}

static void
remove_progress_file(int code, Datum arg)
{
	if (progress_path[0] != '\0')
		(void) unlink(progress_path);
}

Datum
churnml_progress_file(PG_FUNCTION_ARGS)
{
	if (progress_path[0] == '\0')
	{
		snprintf(progress_path, sizeof(progress_path), "%s/%s/churnml_progress.%d", DataDir, PG_STAT_TMP_DIR,
				 MyProcPid);
		on_proc_exit(remove_progress_file, (Datum) 0);
	}
	PG_RETURN_TEXT_P(cstring_to_text(progress_path));
}
