/*
 * churnml.scoring._native_trees: evaluate a forest of regression trees in C.
 *
 * Why: will_churn() is called once per row, and CPython needs ~0.1 us per tree
 * level, so a 150-tree model costs ~20 us a row in pure Python. Walking flat node
 * arrays in C costs well under a microsecond. The forest is built by
 * churnml/scoring/native_trees.py from the same validated trees the pure-Python
 * scorer uses (float64 cutoffs chosen so that x < cutoff <=> float32(x) < t,
 * i.e. xgboost's own paths), and the pure-Python scorer stays the fallback.
 *
 * Safety: every index is checked when the forest is built, and every child index
 * must be greater than its parent's, so a walk always ends; inputs are read
 * through the buffer and sequence protocols with their sizes checked.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    Py_ssize_t n_nodes;
    Py_ssize_t n_trees;
    Py_ssize_t n_features;
    int32_t *feature;
    int32_t *left;
    int32_t *right;
    int32_t *roots;
    uint8_t *default_left;
    double *cutoff;
    double *value;
    double base_margin;
} Forest;

static void
Forest_dealloc(Forest *self)
{
    PyMem_Free(self->feature);
    PyMem_Free(self->left);
    PyMem_Free(self->right);
    PyMem_Free(self->roots);
    PyMem_Free(self->default_left);
    PyMem_Free(self->cutoff);
    PyMem_Free(self->value);
    Py_TYPE(self)->tp_free((PyObject *) self);
}

static void *
copy_buffer(Py_buffer *buf, Py_ssize_t expected_bytes, const char *what)
{
    void *out;

    if (buf->len != expected_bytes) {
        PyErr_Format(PyExc_ValueError, "%s has %zd bytes, expected %zd", what, buf->len, expected_bytes);
        return NULL;
    }
    out = PyMem_Malloc(expected_bytes > 0 ? (size_t) expected_bytes : 1);
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(out, buf->buf, (size_t) expected_bytes);
    return out;
}

static int
Forest_check(Forest *self)
{
    for (Py_ssize_t i = 0; i < self->n_nodes; i++) {
        int32_t l = self->left[i];
        int32_t r = self->right[i];

        if (l == -1)
            continue;
        if (l <= i || r <= i || l >= self->n_nodes || r >= self->n_nodes) {
            PyErr_Format(PyExc_ValueError, "node %zd has children %d and %d out of order or range", i, l, r);
            return -1;
        }
        if (self->feature[i] < 0 || self->feature[i] >= self->n_features) {
            PyErr_Format(PyExc_ValueError, "node %zd splits on feature %d of %zd", i, self->feature[i],
                         self->n_features);
            return -1;
        }
    }
    for (Py_ssize_t t = 0; t < self->n_trees; t++) {
        if (self->roots[t] < 0 || self->roots[t] >= self->n_nodes) {
            PyErr_Format(PyExc_ValueError, "tree %zd has root %d out of range", t, self->roots[t]);
            return -1;
        }
    }
    return 0;
}

/* Forest(feature, left, right, default_left, cutoff, value, roots, n_features, base_margin):
 * int32 / uint8 / float64 arrays as bytes-like objects, all trees' nodes concatenated. */
static int
Forest_init(Forest *self, PyObject *args, PyObject *kwds)
{
    Py_buffer b[7];
    Py_ssize_t n_features;
    double base_margin;
    int result = -1;

    if (kwds != NULL && PyDict_GET_SIZE(kwds) > 0) {
        PyErr_SetString(PyExc_TypeError, "Forest takes no keyword arguments");
        return -1;
    }
    memset(b, 0, sizeof(b));
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*nd", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &b[6],
                          &n_features, &base_margin))
        return -1;
    if (self->feature != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Forest is already initialised");
        goto done;
    }
    if (n_features < 1 || b[0].len % 4 != 0 || b[6].len % 4 != 0) {
        PyErr_SetString(PyExc_ValueError, "bad forest dimensions");
        goto done;
    }
    self->n_nodes = b[0].len / 4;
    self->n_trees = b[6].len / 4;
    self->n_features = n_features;
    self->base_margin = base_margin;
    if ((self->feature = copy_buffer(&b[0], self->n_nodes * 4, "feature")) == NULL ||
        (self->left = copy_buffer(&b[1], self->n_nodes * 4, "left")) == NULL ||
        (self->right = copy_buffer(&b[2], self->n_nodes * 4, "right")) == NULL ||
        (self->default_left = copy_buffer(&b[3], self->n_nodes, "default_left")) == NULL ||
        (self->cutoff = copy_buffer(&b[4], self->n_nodes * 8, "cutoff")) == NULL ||
        (self->value = copy_buffer(&b[5], self->n_nodes * 8, "value")) == NULL ||
        (self->roots = copy_buffer(&b[6], self->n_trees * 4, "roots")) == NULL)
        goto done;
    result = Forest_check(self);
done:
    for (int i = 0; i < 7; i++)
        if (b[i].obj != NULL)
            PyBuffer_Release(&b[i]);
    return result;
}

static inline double
forest_margin(const Forest *f, const double *x)
{
    double sum = 0.0;

    for (Py_ssize_t t = 0; t < f->n_trees; t++) {
        int32_t n = f->roots[t];

        while (f->left[n] != -1) {
            double v = x[f->feature[n]];

            if (isnan(v))
                n = f->default_left[n] ? f->left[n] : f->right[n];
            else
                n = v < f->cutoff[n] ? f->left[n] : f->right[n];
        }
        sum += f->value[n];
    }
    return f->base_margin + sum;
}

static int
row_values(Forest *self, PyObject *row, double *x)
{
    PyObject *seq = PySequence_Fast(row, "a row must be a sequence of numbers");
    Py_ssize_t n;

    if (seq == NULL)
        return -1;
    n = PySequence_Fast_GET_SIZE(seq);
    if (n != self->n_features) {
        PyErr_Format(PyExc_ValueError, "the model takes %zd values, got %zd", self->n_features, n);
        Py_DECREF(seq);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);

        if (item == Py_None) {
            x[i] = NAN;
            continue;
        }
        x[i] = PyFloat_AsDouble(item);
        if (x[i] == -1.0 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    return 0;
}

static PyObject *
row_margin(Forest *self, PyObject *row, int probability)
{
    double stack[64];
    double *x = stack;
    double margin;

    if (self->n_features > 64 && (x = PyMem_Malloc(sizeof(double) * (size_t) self->n_features)) == NULL)
        return PyErr_NoMemory();
    if (row_values(self, row, x) < 0) {
        if (x != stack)
            PyMem_Free(x);
        return NULL;
    }
    margin = forest_margin(self, x);
    if (x != stack)
        PyMem_Free(x);
    return PyFloat_FromDouble(probability ? 1.0 / (1.0 + exp(-margin)) : margin);
}

static PyObject *
Forest_margin_row(Forest *self, PyObject *row)
{
    return row_margin(self, row, 0);
}

static PyObject *
Forest_predict_row(Forest *self, PyObject *row)
{
    return row_margin(self, row, 1);
}

/* predict_matrix(x, out): x a C-contiguous float64 buffer of rows * n_features,
 * out a writable float64 buffer of rows; fills out with probabilities. */
static PyObject *
Forest_predict_matrix(Forest *self, PyObject *args)
{
    Py_buffer x, out;
    Py_ssize_t rows;

    if (!PyArg_ParseTuple(args, "y*w*", &x, &out))
        return NULL;
    if (x.len % (Py_ssize_t) (sizeof(double) * (size_t) self->n_features) != 0) {
        PyErr_SetString(PyExc_ValueError, "x is not rows * n_features float64 values");
        goto fail;
    }
    rows = x.len / (Py_ssize_t) (sizeof(double) * (size_t) self->n_features);
    if (out.len != rows * (Py_ssize_t) sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "out must hold one float64 per row");
        goto fail;
    }
    {
        const double *xs = (const double *) x.buf;
        double *o = (double *) out.buf;

        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t r = 0; r < rows; r++)
            o[r] = 1.0 / (1.0 + exp(-forest_margin(self, xs + r * self->n_features)));
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&x);
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
fail:
    PyBuffer_Release(&x);
    PyBuffer_Release(&out);
    return NULL;
}

static PyMethodDef Forest_methods[] = {
    {"margin_row", (PyCFunction) Forest_margin_row, METH_O, "The log-odds of one row (None/NaN = missing)."},
    {"predict_row", (PyCFunction) Forest_predict_row, METH_O, "The probability of one row."},
    {"predict_matrix", (PyCFunction) Forest_predict_matrix, METH_VARARGS,
     "predict_matrix(x, out): probabilities of a C-contiguous float64 matrix into out."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ForestType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "churnml.scoring._native_trees.Forest",
    .tp_basicsize = sizeof(Forest),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A forest of regression trees as flat node arrays.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc) Forest_init,
    .tp_dealloc = (destructor) Forest_dealloc,
    .tp_methods = Forest_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_native_trees",
    .m_doc = "Tree-forest evaluation in C for churnml.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__native_trees(void)
{
    PyObject *m;

    if (PyType_Ready(&ForestType) < 0)
        return NULL;
    m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&ForestType);
    if (PyModule_AddObject(m, "Forest", (PyObject *) &ForestType) < 0) {
        Py_DECREF(&ForestType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
