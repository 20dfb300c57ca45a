/*
 * churnml_loaders._copy_rows: where COPY rows end in a chunk of COPY data.
 *
 * export_query uploads a COPY output file in parts that each hold whole rows, and its
 * manifest counts the rows of every part; load_from_s3 counts the records of every
 * object so a bad one can be named by object and line. A row ends at a newline in
 * text format, at a newline outside quotes in CSV, and after its last field in binary
 * format. With CSV's default quote and escape ('"' and '"'), or any quote that is also the
 * escape, the parity of the quotes seen decides; an escape of its own (escape '\\') makes a
 * quote or escape after it inside quotes a plain byte; and in encodings whose multibyte
 * characters may hold ASCII bytes (SJIS, BIG5, GBK, UHC, GB18030, JOHAB: PostgreSQL's
 * client-only encodings), a quote or escape byte inside a character is no quote, as for COPY.
 * Scanning that in Python costs a step per byte; here it is a few nanoseconds.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static uint32_t
be32(const unsigned char *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

/*
 * CSV: where the last row ends in p[0..n), and how many rows end there. A newline ends
 * a row when an even number of quotes came before it. With every value quoted
 * (FORCE_QUOTE *: aws_s3.query_export_to_s3's 'force_quote *'), quotes are a fifth of
 * the bytes and a byte-at-a-time loop branches badly; 64 bytes at a time instead, whatever
 * the quoting: a bit mask of the quotes and one of the newlines (SSE2, in every x86-64),
 * the quote mask's prefix XOR (bit i set = inside quotes at byte i), and the newlines
 * outside quotes are the rows' ends. The same answer as the plain loop, which does the
 * rest of the data and other machines.
 */
static void
scan_csv(const unsigned char *p, Py_ssize_t n, unsigned char quote_char, Py_ssize_t *end_out, Py_ssize_t *rows_out)
{
    Py_ssize_t    i = 0,
                end = 0,
                rows = 0;
    int            quoted = 0;

#if defined(__SSE2__)
    {
        const __m128i quote = _mm_set1_epi8((char) quote_char);
        const __m128i newline = _mm_set1_epi8('\n');
        uint64_t    inside = 0; /* all ones when the previous block ended inside quotes */

        for (; i + 64 <= n; i += 64) {
            uint64_t    quotes = 0,
                        newlines = 0,
                        x,
                        ends;

            for (int k = 0; k < 4; k++) {
                __m128i        v = _mm_loadu_si128((const __m128i *) (p + i + 16 * k));

                quotes |= (uint64_t) (uint16_t) _mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)) << (16 * k);
                newlines |= (uint64_t) (uint16_t) _mm_movemask_epi8(_mm_cmpeq_epi8(v, newline)) << (16 * k);
            }
            x = quotes;
            x ^= x << 1;
            x ^= x << 2;
            x ^= x << 4;
            x ^= x << 8;
            x ^= x << 16;
            x ^= x << 32;
            x ^= inside;
            ends = newlines & ~x;
            if (ends) {
                rows += __builtin_popcountll(ends);
                end = i + 64 - __builtin_clzll(ends);
            }
            inside = (x >> 63) ? ~(uint64_t) 0 : 0;
        }
        quoted = inside != 0;
    }
#endif
    for (; i < n; i++) {
        if (p[i] == quote_char)
            quoted = !quoted;
        else if (p[i] == '\n' && !quoted) {
            rows++;
            end = i + 1;
        }
    }
    *end_out = end;
    *rows_out = rows;
}

/* The length of the character at p (n bytes left) in PostgreSQL's client-only encoding `mb`
 * ('S'JIS, 'B'IG5/GBK/UHC, 'G'B18030, 'J'OHAB), as pg_encoding_mblen says; 0 when it is cut off. */
static Py_ssize_t
mb_length(char mb, const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t  len = 1;

    if (p[0] < 0x80)
        return 1;
    if (mb == 'S')
        len = (p[0] >= 0xa1 && p[0] <= 0xdf) ? 1 : 2;   /* half-width katakana: one byte */
    else if (mb == 'G')
        len = (n >= 2 && p[1] >= 0x30 && p[1] <= 0x39) ? 4 : 2;
    else if (mb == 'J')
        len = p[0] == 0x8f ? 3 : 2;
    else
        len = 2;
    return len <= n ? len : 0;
}

/*
 * CSV with an escape that is not the quote, or in an encoding that embeds ASCII: a byte at a
 * time, as COPY FROM reads it. Inside quotes, the escape before a quote or an escape makes
 * that byte data; a multibyte character is stepped over whole.
 */
static void
scan_csv_general(const unsigned char *p, Py_ssize_t n, unsigned char quote, unsigned char escape, char mb,
                 Py_ssize_t *end_out, Py_ssize_t *rows_out)
{
    Py_ssize_t  i = 0,
                end = 0,
                rows = 0;
    int         quoted = 0;

    while (i < n) {
        unsigned char c = p[i];

        if (mb && c >= 0x80) {
            Py_ssize_t  len = mb_length(mb, p + i, n - i);

            if (len == 0)
                break;          /* a character cut off at the end: no row ends in it */
            i += len;
            continue;
        }
        if (quoted && c == escape && escape != quote) {
            if (i + 1 >= n)
                break;          /* what the escape escapes is not here yet */
            i += (p[i + 1] == quote || p[i + 1] == escape) ? 2 : 1;
            continue;
        }
        if (c == quote)
            quoted = !quoted;
        else if (c == '\n' && !quoted) {
            rows++;
            end = i + 1;
        }
        i++;
    }
    *end_out = end;
    *rows_out = rows;
}

/* scan(data, fmt[, quote, escape, mb]) -> (end, rows, trailer): the whole rows at the start of data end at
 * `end` and are `rows` many. fmt: "text", "csv" or "binary" (tuples only, the file
 * header already taken off). trailer: for binary, the offset of the end-of-data
 * marker (a field count of -1) when it is in data, else -1. */
static PyObject *
scan(PyObject *module, PyObject *args)
{
    Py_buffer buf;
    const char *fmt;
    int quote = '"', escape = '"';
    const char *mb = "";
    Py_ssize_t end = 0, rows = 0, trailer = -1;

    (void) module;
    if (!PyArg_ParseTuple(args, "y*s|iis", &buf, &fmt, &quote, &escape, &mb))
        return NULL;
    if (quote < 1 || quote > 0x7f || escape < 1 || escape > 0x7f || strlen(mb) > 1 || strchr("SBGJ", mb[0]) == NULL) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "quote and escape must be ASCII bytes, mb '', 'S', 'B', 'G' or 'J'");
        return NULL;
    }
    {
        const unsigned char *p = buf.buf;
        const Py_ssize_t n = buf.len;

        if (strcmp(fmt, "text") == 0) {
            const unsigned char *at = p, *stop = p + n, *nl;

            while (at < stop && (nl = memchr(at, '\n', (size_t) (stop - at))) != NULL) {
                rows++;
                at = nl + 1;
            }
            end = at - p;
        } else if (strcmp(fmt, "csv") == 0) {
            /* quote bytes never occur inside an embedding encoding's characters below 0x30 */
            if (quote == escape && (mb[0] == '\0' || quote < 0x30))
                scan_csv(p, n, (unsigned char) quote, &end, &rows);
            else
                scan_csv_general(p, n, (unsigned char) quote, (unsigned char) escape, mb[0], &end, &rows);
        } else if (strcmp(fmt, "binary") == 0) {
            Py_ssize_t at = 0;

            while (at + 2 <= n) {
                int16_t fields = (int16_t) (((uint16_t) p[at] << 8) | p[at + 1]);
                Py_ssize_t next = at + 2;
                int complete = 1;

                if (fields == -1) {
                    trailer = at;
                    break;
                }
                if (fields < 0) {
                    PyBuffer_Release(&buf);
                    PyErr_Format(PyExc_ValueError, "invalid binary COPY data: field count %d", fields);
                    return NULL;
                }
                for (int f = 0; f < fields; f++) {
                    int32_t len;

                    if (next + 4 > n) {
                        complete = 0;
                        break;
                    }
                    len = (int32_t) be32(p + next);
                    next += 4;
                    if (len < -1) {
                        PyBuffer_Release(&buf);
                        PyErr_Format(PyExc_ValueError, "invalid binary COPY data: field length %d", len);
                        return NULL;
                    }
                    if (len > 0) {
                        if (next + len > n) {
                            complete = 0;
                            break;
                        }
                        next += len;
                    }
                }
                if (!complete)
                    break;
                rows++;
                at = end = next;
            }
        } else {
            PyBuffer_Release(&buf);
            PyErr_Format(PyExc_ValueError, "unknown COPY format %s", fmt);
            return NULL;
        }
    }
    PyBuffer_Release(&buf);
    return Py_BuildValue("nnn", end, rows, trailer);
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(data, fmt[, quote, escape, mb]) -> (end, rows, trailer): the whole COPY rows at the start of data."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_copy_rows",
    .m_doc = "Row boundaries in COPY data, for churnml's loaders.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__copy_rows(void)
{
    return PyModule_Create(&module);
}
