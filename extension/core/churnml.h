/* Declarations shared by the C files of churnml.so. */
#ifndef CHURNML_H
#define CHURNML_H

/* limits.c: defines churnml.max_batch_texts and churnml.max_batch_size (from _PG_init) */
extern void churnml_define_limits(void);

/* progress.c: defines churnml.progress_notice_interval (from _PG_init) */
extern void churnml_define_progress(void);

/* query_check.c: the one RawStmt of `query` if it is a single SELECT that changes nothing,
 * else an error whose message starts with `what` (e.g. "the exported query") */
struct RawStmt;
extern struct RawStmt *churnml_one_select(const char *query, const char *what);

/* limits.c: 54000 unless the array `value` has at most max_elements elements and max_bytes
 * bytes; the message names `what`, the detail and hint the settings when given (else NULL) */
extern void churnml_check_array(Datum value, const char *what, int64 max_elements, int64 max_bytes,
								const char *elements_setting, const char *size_setting);

#endif
