/*
 * churnml.transfer._copy_rows: where COPY rows end in a chunk of COPY data.
 *
 * export_query uploads a COPY output file in parts that each hold whole rows, and its
 * manifest counts the rows of every part; load_from_s3 counts the records of every
 * object so a bad one can be named by object and line. A row ends at a newline in
 * text format, at a newline outside double quotes in CSV (quote and escape '"', so
 * the parity of the quotes seen decides), and after its last field in binary format.
 * Scanning that in Python costs a step per byte; here it is a few nanoseconds.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static uint32_t
be32(const unsigned char *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

/* scan(data, fmt) -> (end, rows, trailer): the whole rows at the start of data end at
 * `end` and are `rows` many. fmt: "text", "csv" or "binary" (tuples only, the file
 * header already taken off). trailer: for binary, the offset of the end-of-data
 * marker (a field count of -1) when it is in data, else -1. */
static PyObject *
scan(PyObject *module, PyObject *args)
{
    Py_buffer buf;
    const char *fmt;
    Py_ssize_t end = 0, rows = 0, trailer = -1;

    (void) module;
    if (!PyArg_ParseTuple(args, "y*s", &buf, &fmt))
        return NULL;
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
            int quoted = 0;

            for (Py_ssize_t i = 0; i < n; i++) {
                if (p[i] == '"')
                    quoted = !quoted;
                else if (p[i] == '\n' && !quoted) {
                    rows++;
                    end = i + 1;
                }
            }
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
    {"scan", scan, METH_VARARGS, "scan(data, fmt) -> (end, rows, trailer): the whole COPY rows at the start of data."},
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
