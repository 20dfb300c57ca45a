/*
 * churnml.scoring._native_trees: churnml's one tree evaluator, in C.
 *
 * Every score and explanation of a churn model goes through here: one row at a time
 * (will_churn, the typed functions, predict, explain_churn, assess_customer), whole
 * matrices (score, customer_risk, register_model's check against xgboost) and exact
 * TreeSHAP (explain_churn, customer_risk). xgboost is the oracle in the tests; there is
 * no second evaluator to fall back to, so `make` always builds this module.
 *
 * The forest is built by churnml/scoring/tree_evaluator.py from the validated trees of
 * churnml/scoring/forest.py: float64 cutoffs chosen so that x < cutoff <=> float32(x) < t
 * (xgboost's own comparison on its float32 threshold t), and leaf values that are
 * xgboost's float32 values times the dart weight.
 *
 * One sum order everywhere: a row's leaf values are added in tree order in float64,
 * starting from 0.0, and the base margin is added last; the row walk, the block walk and
 * the AVX2 walk all do exactly that, so a row scores bit for bit the same whichever path
 * serves it. (xgboost sums in float32: probabilities agree with it to ~1e-7.)
 *
 * Safety: the constructor checks every index and that each tree is a tree (every node
 * reached from its root once, children inside the tree), so every walk ends; inputs are
 * read through the buffer and sequence protocols with their sizes checked.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "structmember.h"
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Deeper trees are refused (the validator refuses them too, artifact_trees.MAX_TREE_DEPTH):
 * TreeSHAP recurses once per level and keeps a path per level. */
#define MAX_DEPTH 256
#define PERFECT_MAX_DEPTH 12
#define MAX_THREADS 8

struct BatchNode {
    double cutoff;
    int32_t feature;
    int32_t child[2]; /* left, right */
    int32_t default_left;
};

typedef struct {
    PyObject_HEAD
    Py_ssize_t n_nodes;
    Py_ssize_t n_trees;
    Py_ssize_t n_features;
    int32_t *feature;
    int32_t *left;
    int32_t *right;
    int32_t *roots; /* tree t's nodes are roots[t] .. roots[t + 1] - 1 */
    uint8_t *default_left;
    double *cutoff;
    double *value;
    double *cover; /* sum of hessians per node, for TreeSHAP */
    double base_margin;
    /* TreeSHAP's bias, the margin of the average row (xgboost's last contribution):
     * base_margin plus each tree's cover-weighted mean leaf value, summed in tree order. */
    double expected_value;
    /* The first node TreeSHAP cannot divide by (an inner node whose cover is not
     * positive), as tree and node within the tree; -1 when there is none. */
    Py_ssize_t zero_cover_tree;
    Py_ssize_t zero_cover_node;
    int32_t max_depth;
    /* For the batch walk: one packed record per node (a leaf points at itself) and
     * each tree's depth, so every row takes exactly `depth` steps with no
     * data-dependent branch and one cache line per step. */
    struct BatchNode *nodes;
    int32_t *depth;
    /* The same trees padded to perfect binary trees of their depth (a leaf above the
     * bottom becomes a split whose two sides are that leaf again), for the AVX2 walk:
     * node i's children are 2i+1 and 2i+2, so a step is arithmetic, not a pointer
     * load. NULL when a tree is deeper than PERFECT_MAX_DEPTH. Per tree t: 2^depth - 1
     * splits from perfect_split[t] (feature | default_left << 31, and the float32
     * cutoff) and 2^depth leaves from perfect_leaf[t]. */
    int32_t *perfect_feature;
    float *perfect_cutoff;
    double *perfect_value;
    Py_ssize_t *perfect_split;
    Py_ssize_t *perfect_leaf;
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
    PyMem_Free(self->cover);
    PyMem_Free(self->nodes);
    PyMem_Free(self->depth);
    PyMem_Free(self->perfect_feature);
    PyMem_Free(self->perfect_cutoff);
    PyMem_Free(self->perfect_value);
    PyMem_Free(self->perfect_split);
    PyMem_Free(self->perfect_leaf);
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

static Py_ssize_t
tree_end(const Forest *f, Py_ssize_t t)
{
    return t + 1 < f->n_trees ? f->roots[t + 1] : f->n_nodes;
}

/* Every index in range, and each tree a tree: walked from its root with a stack, every
 * child inside the tree's own nodes and reached once, at most MAX_DEPTH levels. Fills
 * depth[] (each tree's longest root-to-leaf path) and max_depth. Any node order is
 * accepted: a validated tree may number a child before its parent. */
static int
Forest_check(Forest *self)
{
    int32_t *stack_node = NULL, *stack_level = NULL;
    uint8_t *seen = NULL;
    int result = -1;

    for (Py_ssize_t t = 0; t < self->n_trees; t++) {
        if (self->roots[t] < 0 || self->roots[t] >= self->n_nodes ||
            (t > 0 && self->roots[t] <= self->roots[t - 1]) || (t == 0 && self->roots[0] != 0)) {
            PyErr_Format(PyExc_ValueError, "tree %zd has root %d: trees must follow one another", t, self->roots[t]);
            return -1;
        }
    }
    if (self->n_trees == 0 && self->n_nodes != 0) {
        PyErr_SetString(PyExc_ValueError, "nodes without a tree");
        return -1;
    }
    stack_node = PyMem_Malloc(sizeof(int32_t) * (size_t) (self->n_nodes > 0 ? self->n_nodes : 1));
    stack_level = PyMem_Malloc(sizeof(int32_t) * (size_t) (self->n_nodes > 0 ? self->n_nodes : 1));
    seen = PyMem_Calloc((size_t) (self->n_nodes > 0 ? self->n_nodes : 1), 1);
    if (stack_node == NULL || stack_level == NULL || seen == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    self->max_depth = 0;
    for (Py_ssize_t t = 0; t < self->n_trees; t++) {
        const Py_ssize_t first = self->roots[t], end = tree_end(self, t);
        Py_ssize_t top = 0;
        int32_t deepest = 0;

        stack_node[top] = (int32_t) first;
        stack_level[top++] = 0;
        seen[first] = 1;
        while (top > 0) {
            const int32_t node = stack_node[--top], level = stack_level[top];
            const int32_t l = self->left[node], r = self->right[node];

            if (level > deepest)
                deepest = level;
            if (l == -1 && r == -1) {
                self->feature[node] = 0; /* the batch walk reads a leaf's feature while it waits there */
                continue;
            }
            if (l < first || l >= end || r < first || r >= end || l == r || seen[l] || seen[r]) {
                PyErr_Format(PyExc_ValueError, "tree %zd node %zd has children %d and %d: not a tree", t,
                             (Py_ssize_t) node - first, l, r);
                goto done;
            }
            if (self->feature[node] < 0 || self->feature[node] >= self->n_features) {
                PyErr_Format(PyExc_ValueError, "tree %zd node %zd splits on feature %d of %zd", t,
                             (Py_ssize_t) node - first, self->feature[node], self->n_features);
                goto done;
            }
            if (level >= MAX_DEPTH) {
                PyErr_Format(PyExc_ValueError, "tree %zd is deeper than %d levels", t, MAX_DEPTH);
                goto done;
            }
            seen[l] = seen[r] = 1;
            stack_node[top] = l;
            stack_level[top++] = level + 1;
            stack_node[top] = r;
            stack_level[top++] = level + 1;
        }
        self->depth[t] = deepest;
        if (deepest > self->max_depth)
            self->max_depth = deepest;
    }
    result = 0;
done:
    PyMem_Free(stack_node);
    PyMem_Free(stack_level);
    PyMem_Free(seen);
    return result;
}

/* Cover-weighted mean leaf value under `node` (xgboost's FillNodeMeanValues), or NAN with
 * the first zero-cover node recorded. Recursion is at most MAX_DEPTH deep. */
static double
node_mean(Forest *self, Py_ssize_t t, int32_t node)
{
    const int32_t l = self->left[node], r = self->right[node];
    double left_mean, right_mean;

    if (l == -1)
        return self->value[node];
    if (!(self->cover[node] > 0.0)) {
        if (self->zero_cover_tree < 0) {
            self->zero_cover_tree = t;
            self->zero_cover_node = node - self->roots[t];
        }
        return NAN;
    }
    left_mean = node_mean(self, t, l);
    right_mean = node_mean(self, t, r);
    return (left_mean * self->cover[l] + right_mean * self->cover[r]) / self->cover[node];
}

static void
Forest_prepare_expected(Forest *self)
{
    double sum = 0.0;

    self->zero_cover_tree = self->zero_cover_node = -1;
    for (Py_ssize_t t = 0; t < self->n_trees; t++)
        sum += node_mean(self, t, self->roots[t]);
    self->expected_value = self->base_margin + sum;
}

/* The smallest float32 c32 with  x32 < c32  <=>  x32 < cutoff  for every float32 x32;
 * with  x < cutoff <=> float32(x) < t  (how cutoffs are chosen) that makes
 * float32(x) < c32 the same test as x < cutoff. */
static float
float32_cutoff(double cutoff)
{
    float c = (float) cutoff;

    if ((double) c < cutoff)
        c = nextafterf(c, INFINITY);
    return c;
}

static void
perfect_fill(Forest *self, Py_ssize_t t, int32_t node, int32_t pos, int32_t level)
{
    const int32_t depth = self->depth[t];
    int32_t *feature = self->perfect_feature + self->perfect_split[t];
    float *cutoff = self->perfect_cutoff + self->perfect_split[t];

    if (level == depth) { /* the deepest level: always a leaf, the tree being this deep */
        self->perfect_value[self->perfect_leaf[t] + pos - ((1 << depth) - 1)] = self->value[node];
        return;
    }
    if (self->left[node] == -1) { /* a leaf above the bottom: both sides lead to it */
        feature[pos] = 0;
        cutoff[pos] = INFINITY;
        perfect_fill(self, t, node, 2 * pos + 1, level + 1);
        perfect_fill(self, t, node, 2 * pos + 2, level + 1);
        return;
    }
    feature[pos] = self->feature[node] | (self->default_left[node] ? INT32_MIN : 0);
    cutoff[pos] = float32_cutoff(self->cutoff[node]);
    perfect_fill(self, t, self->left[node], 2 * pos + 1, level + 1);
    perfect_fill(self, t, self->right[node], 2 * pos + 2, level + 1);
}

static int
Forest_prepare_perfect(Forest *self)
{
    Py_ssize_t splits = 0, leaves = 0, n = self->n_trees > 0 ? self->n_trees : 1;

    if (self->max_depth > PERFECT_MAX_DEPTH)
        return 0; /* the node walk serves this forest */
    for (Py_ssize_t t = 0; t < self->n_trees; t++) {
        splits += ((Py_ssize_t) 1 << self->depth[t]) - 1;
        leaves += (Py_ssize_t) 1 << self->depth[t];
    }
    self->perfect_split = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t) n);
    self->perfect_leaf = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t) n);
    /* 8 entries of padding: the AVX2 walk loads a level's splits 8 at a time */
    self->perfect_feature = PyMem_Calloc((size_t) splits + 8, sizeof(int32_t));
    self->perfect_cutoff = PyMem_Calloc((size_t) splits + 8, sizeof(float));
    self->perfect_value = PyMem_Malloc(sizeof(double) * (size_t) (leaves > 0 ? leaves : 1));
    if (self->perfect_split == NULL || self->perfect_leaf == NULL || self->perfect_feature == NULL ||
        self->perfect_cutoff == NULL || self->perfect_value == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    splits = leaves = 0;
    for (Py_ssize_t t = 0; t < self->n_trees; t++) {
        self->perfect_split[t] = splits;
        self->perfect_leaf[t] = leaves;
        splits += ((Py_ssize_t) 1 << self->depth[t]) - 1;
        leaves += (Py_ssize_t) 1 << self->depth[t];
        perfect_fill(self, t, self->roots[t], 0, 0);
    }
    return 0;
}

static int
Forest_prepare_batch(Forest *self)
{
    self->nodes = PyMem_Malloc(sizeof(struct BatchNode) * (size_t) (self->n_nodes > 0 ? self->n_nodes : 1));
    if (self->nodes == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < self->n_nodes; i++) {
        int leaf = self->left[i] == -1;

        self->nodes[i].cutoff = self->cutoff[i];
        self->nodes[i].feature = self->feature[i];
        self->nodes[i].child[0] = leaf ? (int32_t) i : self->left[i];
        self->nodes[i].child[1] = leaf ? (int32_t) i : self->right[i];
        self->nodes[i].default_left = self->default_left[i] != 0;
    }
    return Forest_prepare_perfect(self);
}

/* Child indices as given are the tree's own (0 = its root); from here on they index the
 * concatenation. An index outside its tree becomes -2, which Forest_check refuses. */
static int
Forest_absolute_children(Forest *self)
{
    for (Py_ssize_t t = 0; t < self->n_trees; t++) {
        const Py_ssize_t first = self->roots[t], end = tree_end(self, t);

        if (first < 0 || end > self->n_nodes || first >= end) {
            PyErr_Format(PyExc_ValueError, "tree %zd has root %d: trees must follow one another", t, self->roots[t]);
            return -1;
        }
        for (Py_ssize_t i = first; i < end; i++) {
            int32_t *children[2] = {&self->left[i], &self->right[i]};

            for (int side = 0; side < 2; side++) {
                const int32_t c = *children[side];

                if (c != -1)
                    *children[side] = c >= 0 && c < end - first ? (int32_t) (c + first) : -2;
            }
        }
    }
    return 0;
}

/* Forest(feature, left, right, default_left, cutoff, value, cover, roots, n_features, base_margin):
 * int32 / uint8 / float64 arrays as bytes-like objects, all trees' nodes concatenated;
 * roots[t] is tree t's first node (0, then increasing), child indices are the tree's own
 * (0 = its root), -1 on both sides of a leaf. */
static int
Forest_init(Forest *self, PyObject *args, PyObject *kwds)
{
    Py_buffer b[8];
    Py_ssize_t n_features;
    double base_margin;
    int result = -1;

    if (kwds != NULL && PyDict_GET_SIZE(kwds) > 0) {
        PyErr_SetString(PyExc_TypeError, "Forest takes no keyword arguments");
        return -1;
    }
    memset(b, 0, sizeof(b));
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*nd", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &b[6], &b[7],
                          &n_features, &base_margin))
        return -1;
    if (self->feature != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Forest is already initialised");
        goto done;
    }
    if (n_features < 1 || n_features > INT32_MAX || b[0].len % 4 != 0 || b[7].len % 4 != 0 ||
        b[0].len / 4 > INT32_MAX || !isfinite(base_margin)) {
        PyErr_SetString(PyExc_ValueError, "bad forest dimensions");
        goto done;
    }
    self->n_nodes = b[0].len / 4;
    self->n_trees = b[7].len / 4;
    self->n_features = n_features;
    self->base_margin = base_margin;
    if ((self->feature = copy_buffer(&b[0], self->n_nodes * 4, "feature")) == NULL ||
        (self->left = copy_buffer(&b[1], self->n_nodes * 4, "left")) == NULL ||
        (self->right = copy_buffer(&b[2], self->n_nodes * 4, "right")) == NULL ||
        (self->default_left = copy_buffer(&b[3], self->n_nodes, "default_left")) == NULL ||
        (self->cutoff = copy_buffer(&b[4], self->n_nodes * 8, "cutoff")) == NULL ||
        (self->value = copy_buffer(&b[5], self->n_nodes * 8, "value")) == NULL ||
        (self->cover = copy_buffer(&b[6], self->n_nodes * 8, "cover")) == NULL ||
        (self->roots = copy_buffer(&b[7], self->n_trees * 4, "roots")) == NULL)
        goto done;
    self->depth = PyMem_Malloc(sizeof(int32_t) * (size_t) (self->n_trees > 0 ? self->n_trees : 1));
    if (self->depth == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (Forest_absolute_children(self) < 0 || Forest_check(self) < 0 || Forest_prepare_batch(self) < 0)
        goto done;
    Forest_prepare_expected(self);
    result = 0;
done:
    for (int i = 0; i < 8; i++)
        if (b[i].obj != NULL)
            PyBuffer_Release(&b[i]);
    return result;
}

/* ------------------------------------------------------------------ one row */

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

static inline double
probability(double margin)
{
    return 1.0 / (1.0 + exp(-margin));
}

/* A row as float64s: a list or tuple is read in place, a float item directly (the common
 * case: what feature encoding hands over), None as NaN (missing), any other number with
 * float() as xgboost converts its input; anything else is a TypeError. */
static int
row_values(const Forest *self, PyObject *row, double *x)
{
    PyObject *seq;
    PyObject **items;
    Py_ssize_t n;
    int result = -1;

    if (PyList_CheckExact(row) || PyTuple_CheckExact(row)) {
        seq = row;
        Py_INCREF(seq);
    } else if ((seq = PySequence_Fast(row, "a row must be a sequence of numbers")) == NULL)
        return -1;
    n = PySequence_Fast_GET_SIZE(seq);
    items = PySequence_Fast_ITEMS(seq);
    if (n != self->n_features) {
        PyErr_Format(PyExc_ValueError, "the model takes %zd values, got %zd", self->n_features, n);
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = items[i];

        if (PyFloat_CheckExact(item))
            x[i] = PyFloat_AS_DOUBLE(item);
        else if (item == Py_None)
            x[i] = NAN;
        else if (PyUnicode_Check(item) || PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "value %zd is text, not a number", i + 1);
            goto done;
        } else {
            x[i] = PyFloat_AsDouble(item);
            if (x[i] == -1.0 && PyErr_Occurred())
                goto done;
        }
    }
    result = 0;
done:
    Py_DECREF(seq);
    return result;
}

static PyObject *
row_margin(Forest *self, PyObject *row, int as_probability)
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
    return PyFloat_FromDouble(as_probability ? probability(margin) : margin);
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

/* ------------------------------------------------------------------ TreeSHAP
 * Exact SHAP values of one row (Lundberg et al. 2018, algorithm 2), the arithmetic of
 * xgboost's TreeShap in float64: each recursion level gets its own copy of the unique
 * path in one scratch buffer of path_scratch_size() elements. */

typedef struct {
    int32_t feature;
    double zero, one, weight;
} PathElement;

static void
path_extend(PathElement *path, int depth, double zero, double one, int32_t feature)
{
    path[depth].feature = feature;
    path[depth].zero = zero;
    path[depth].one = one;
    path[depth].weight = depth == 0 ? 1.0 : 0.0;
    for (int i = depth - 1; i >= 0; i--) {
        path[i + 1].weight += one * path[i].weight * (i + 1) / (depth + 1);
        path[i].weight = zero * path[i].weight * (depth - i) / (depth + 1);
    }
}

static void
path_unwind(PathElement *path, int depth, int index)
{
    const double one = path[index].one, zero = path[index].zero;
    double next_one = path[depth].weight;

    for (int i = depth - 1; i >= 0; i--) {
        if (one != 0) {
            const double previous = path[i].weight;

            path[i].weight = next_one * (depth + 1) / ((i + 1) * one);
            next_one = previous - path[i].weight * zero * (depth - i) / (depth + 1);
        } else {
            path[i].weight = path[i].weight * (depth + 1) / (zero * (depth - i));
        }
    }
    for (int i = index; i < depth; i++) {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
}

static double
path_unwound_sum(const PathElement *path, int depth, int index)
{
    const double one = path[index].one, zero = path[index].zero;
    double next_one = path[depth].weight, total = 0.0;

    for (int i = depth - 1; i >= 0; i--) {
        if (one != 0) {
            const double share = next_one * (depth + 1) / ((i + 1) * one);

            total += share;
            next_one = path[i].weight - share * zero * (depth - i) / (depth + 1);
        } else if (zero != 0) {
            total += path[i].weight / zero / ((double) (depth - i) / (depth + 1));
        }
    }
    return total;
}

/* Adds one tree's SHAP values for row x to phi. Callers check zero_cover_tree first:
 * every inner node's cover is positive here. */
static void
tree_shap(const Forest *f, const double *x, double *phi, int32_t node, int depth, PathElement *parent,
          double zero, double one, int32_t feature)
{
    PathElement *path = parent + depth + 1;
    int32_t split, hot, cold, left, right;
    double incoming_zero = 1.0, incoming_one = 1.0, v;
    int index;

    memcpy(path, parent, sizeof(PathElement) * (size_t) (depth + 1));
    path_extend(path, depth, zero, one, feature);
    left = f->left[node];
    if (left == -1) {
        for (int i = 1; i <= depth; i++)
            phi[path[i].feature] += path_unwound_sum(path, depth, i) * (path[i].one - path[i].zero) * f->value[node];
        return;
    }
    right = f->right[node];
    split = f->feature[node];
    v = x[split];
    if (isnan(v))
        hot = f->default_left[node] ? left : right;
    else
        hot = v < f->cutoff[node] ? left : right;
    cold = hot == left ? right : left;
    for (index = 0; index <= depth; index++)
        if (path[index].feature == split)
            break;
    if (index <= depth) {
        incoming_zero = path[index].zero;
        incoming_one = path[index].one;
        path_unwind(path, depth, index);
        depth -= 1;
    }
    tree_shap(f, x, phi, hot, depth + 1, path, f->cover[hot] / f->cover[node] * incoming_zero, incoming_one, split);
    tree_shap(f, x, phi, cold, depth + 1, path, f->cover[cold] / f->cover[node] * incoming_zero, 0.0, split);
}

/* Elements of the scratch path: the recursion is at most depth + 2 levels deep, each
 * with a path of up to that length. */
static size_t
path_scratch_size(const Forest *f)
{
    const size_t levels = (size_t) f->max_depth + 2;

    return levels * (levels + 1) / 2 + 1;
}

/* phi: n_features + 1 values, set to the row's SHAP values then the bias, in log-odds;
 * they add up to the row's margin. */
static void
row_contributions(const Forest *f, const double *x, double *phi, PathElement *scratch)
{
    memset(phi, 0, sizeof(double) * (size_t) f->n_features);
    for (Py_ssize_t t = 0; t < f->n_trees; t++)
        tree_shap(f, x, phi, f->roots[t], 0, scratch, 1.0, 1.0, -1);
    phi[f->n_features] = f->expected_value;
}

static int
check_explainable(const Forest *f)
{
    if (f->zero_cover_tree >= 0) {
        PyErr_Format(PyExc_ArithmeticError, "tree %zd node %zd has zero cover", f->zero_cover_tree,
                     f->zero_cover_node);
        return -1;
    }
    return 0;
}

/* contributions_row(row) -> list of n_features + 1 floats: each feature's SHAP value in
 * log-odds, then the bias; they add up to margin_row(row) (xgboost's pred_contribs). */
static PyObject *
Forest_contributions_row(Forest *self, PyObject *row)
{
    double *x = NULL, *phi = NULL;
    PathElement *scratch = NULL;
    PyObject *result = NULL;

    if (check_explainable(self) < 0)
        return NULL;
    x = PyMem_Malloc(sizeof(double) * (size_t) self->n_features);
    phi = PyMem_Malloc(sizeof(double) * (size_t) (self->n_features + 1));
    scratch = PyMem_Malloc(sizeof(PathElement) * path_scratch_size(self));
    if (x == NULL || phi == NULL || scratch == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (row_values(self, row, x) < 0)
        goto done;
    row_contributions(self, x, phi, scratch);
    result = PyList_New(self->n_features + 1);
    if (result == NULL)
        goto done;
    for (Py_ssize_t i = 0; i <= self->n_features; i++) {
        PyObject *item = PyFloat_FromDouble(phi[i]);

        if (item == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, i, item);
    }
done:
    PyMem_Free(x);
    PyMem_Free(phi);
    PyMem_Free(scratch);
    return result;
}

/* ------------------------------------------------------------------ many rows */

#define BLOCK 64

/* A block of rows walks each tree level by level together, which keeps the tree's
 * nodes in cache and gives the CPU independent work instead of one long chain of
 * hard-to-predict branches. */
static void
forest_predict_block(const Forest *f, const double *xs, Py_ssize_t rows, double *out)
{
    int32_t node[BLOCK];
    double sum[BLOCK];
    const Py_ssize_t nf = f->n_features;

    for (Py_ssize_t start = 0; start < rows; start += BLOCK) {
        Py_ssize_t n = rows - start < BLOCK ? rows - start : BLOCK;
        const double *block = xs + start * nf;

        for (Py_ssize_t r = 0; r < n; r++)
            sum[r] = 0.0;
        for (Py_ssize_t t = 0; t < f->n_trees; t++) {
            const int32_t root = f->roots[t];

            for (Py_ssize_t r = 0; r < n; r++)
                node[r] = root;
            for (int32_t d = 0; d < f->depth[t]; d++) {
                for (Py_ssize_t r = 0; r < n; r++) {
                    const struct BatchNode *k = &f->nodes[node[r]];
                    const double v = block[r * nf + k->feature];
                    /* NaN fails v < cutoff; then the default direction decides */
                    const int go_right = !((v < k->cutoff) | ((v != v) & k->default_left));

                    node[r] = k->child[go_right];
                }
            }
            for (Py_ssize_t r = 0; r < n; r++)
                sum[r] += f->value[node[r]];
        }
        for (Py_ssize_t r = 0; r < n; r++)
            out[start + r] = probability(f->base_margin + sum[r]);
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_WALK 1

/* The perfect-tree walk, eight rows per AVX2 vector and eight vectors (a block of
 * 64 rows) per tree level, so the gathers of independent rows overlap. Each step
 * gathers the rows' feature values; the split itself comes from a permute on the
 * first four levels (gathers are slow, a permute is one instruction). Inputs are
 * rounded to float32 once per block, as xgboost does, and compared with float32
 * cutoffs (see float32_cutoff); leaf values are summed in float64 in tree order, as
 * forest_predict_block does, so the two walks give identical results. `scratch`
 * holds BLOCK * n_features floats. */
__attribute__((target("avx2"))) static void
forest_predict_avx2(const Forest *f, const double *xs, Py_ssize_t rows, double *out, float *scratch)
{
    const Py_ssize_t nf = f->n_features;
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i feature_bits = _mm256_set1_epi32(INT32_MAX);
    __m256i offset[BLOCK / 8];

    for (int v = 0; v < BLOCK / 8; v++)
        offset[v] = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int) nf));
    for (int v = 0; v < BLOCK / 8; v++)
        offset[v] = _mm256_add_epi32(offset[v], _mm256_set1_epi32((int) (v * 8 * nf)));

    for (Py_ssize_t start = 0; start < rows; start += BLOCK) {
        Py_ssize_t n = rows - start < BLOCK ? rows - start : BLOCK;
        __m256d sum[BLOCK / 4];
        double total[BLOCK];

        for (Py_ssize_t i = 0; i < n * nf; i++)
            scratch[i] = (float) xs[start * nf + i];
        for (Py_ssize_t i = n * nf; i < BLOCK * nf; i++)
            scratch[i] = 0.0f; /* rows past the end: walked, never stored */
        for (int v = 0; v < BLOCK / 4; v++)
            sum[v] = _mm256_setzero_pd();
        for (Py_ssize_t t = 0; t < f->n_trees; t++) {
            const int32_t depth = f->depth[t];
            const int32_t *feature = f->perfect_feature + f->perfect_split[t];
            const float *cutoff = f->perfect_cutoff + f->perfect_split[t];
            const double *value = f->perfect_value + f->perfect_leaf[t];
            __m256i node[BLOCK / 8];

            /* node[v]: each row's position within the current level (0 .. 2^d - 1) */
            for (int v = 0; v < BLOCK / 8; v++)
                node[v] = _mm256_setzero_si256();
            for (int32_t d = 0; d < depth; d++) {
                const int32_t level = (1 << d) - 1; /* the level's first split */
                /* Up to 8 splits on a level fit in one register: a permute picks each
                 * row's split instead of a gather (the first four levels). The arrays
                 * have 8 entries of padding, so the load may run past the level. */
                const __m256i level_features = _mm256_loadu_si256((const __m256i *) (feature + level));
                const __m256 level_cutoffs = _mm256_loadu_ps(cutoff + level);

                for (int v = 0; v < BLOCK / 8; v++) {
                    __m256i packed;
                    __m256 cut;

                    if (d < 4) {
                        packed = _mm256_permutevar8x32_epi32(level_features, node[v]);
                        cut = _mm256_permutevar8x32_ps(level_cutoffs, node[v]);
                    } else {
                        packed = _mm256_i32gather_epi32(feature + level, node[v], 4);
                        cut = _mm256_i32gather_ps(cutoff + level, node[v], 4);
                    }
                    {
                        const __m256i at = _mm256_add_epi32(offset[v], _mm256_and_si256(packed, feature_bits));
                        const __m256 x = _mm256_i32gather_ps(scratch, at, 4);
                        /* left: x < cutoff, or x missing and the default direction is left */
                        const __m256i less = _mm256_castps_si256(_mm256_cmp_ps(x, cut, _CMP_LT_OQ));
                        const __m256i missing = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
                        const __m256i left = _mm256_or_si256(less,
                                                             _mm256_and_si256(missing, _mm256_srai_epi32(packed, 31)));

                        /* next level: 2p (left, mask -1) or 2p + 1 */
                        node[v] = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(node[v], 1), one), left);
                    }
                }
            }
            for (int v = 0; v < BLOCK / 8; v++) {
                const __m256i leaf = node[v];

                sum[2 * v] = _mm256_add_pd(sum[2 * v], _mm256_i32gather_pd(value, _mm256_castsi256_si128(leaf), 8));
                sum[2 * v + 1] = _mm256_add_pd(sum[2 * v + 1],
                                               _mm256_i32gather_pd(value, _mm256_extracti128_si256(leaf, 1), 8));
            }
        }
        for (int v = 0; v < BLOCK / 4; v++)
            _mm256_storeu_pd(total + 4 * v, sum[v]);
        for (Py_ssize_t r = 0; r < n; r++)
            out[start + r] = 1.0 / (1.0 + exp(-(f->base_margin + total[r])));
    }
}

static int
have_avx2(void)
{
    static int known = -1;

    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return known;
}
#endif

/* The fastest walk this machine and forest allow, for one thread's rows. */
static void
forest_predict_rows(const Forest *f, const double *xs, Py_ssize_t rows, double *out, int node_walk)
{
#ifdef HAVE_AVX2_WALK
    /* the AVX2 walk's indices are int32: a block's offsets must fit */
    if (!node_walk && f->perfect_feature != NULL && have_avx2() && f->n_features <= INT32_MAX / BLOCK) {
        float *scratch = malloc(sizeof(float) * BLOCK * (size_t) f->n_features); /* no GIL here: not PyMem */

        if (scratch != NULL) {
            forest_predict_avx2(f, xs, rows, out, scratch);
            free(scratch);
            return;
        }
    }
#endif
    forest_predict_block(f, xs, rows, out);
}

/* TreeSHAP for one thread's rows: out holds n_features + 1 values a row. Returns -1 when
 * the scratch path cannot be allocated (nothing is written then). */
static int
forest_contributions_rows(const Forest *f, const double *xs, Py_ssize_t rows, double *out)
{
    PathElement *scratch = malloc(sizeof(PathElement) * path_scratch_size(f)); /* no GIL here: not PyMem */

    if (scratch == NULL)
        return -1;
    for (Py_ssize_t r = 0; r < rows; r++)
        row_contributions(f, xs + r * f->n_features, out + r * (f->n_features + 1), scratch);
    free(scratch);
    return 0;
}

/* One thread's share of a matrix: probabilities (contributions = 0) or TreeSHAP. */
typedef struct {
    const Forest *forest;
    const double *xs;
    Py_ssize_t rows;
    double *out;
    int node_walk;
    int contributions;
    int failed;
} Slice;

static void *
run_slice(void *arg)
{
    Slice *slice = arg;

    if (slice->contributions)
        slice->failed = forest_contributions_rows(slice->forest, slice->xs, slice->rows, slice->out) < 0;
    else
        forest_predict_rows(slice->forest, slice->xs, slice->rows, slice->out, slice->node_walk);
    return NULL;
}

/* Split the rows over up to `threads` threads (the calling one included). The threads
 * touch only these buffers: no Python object, no PostgreSQL function. Returns -1 when
 * some slice could not allocate its scratch memory. */
static int
run_threads(const Forest *f, const double *xs, Py_ssize_t rows, double *out, Py_ssize_t out_width, int threads,
            int node_walk, int contributions)
{
    pthread_t tid[MAX_THREADS];
    Slice slices[MAX_THREADS];
    int started = 0, failed = 0;
    Py_ssize_t per;

    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if (threads < 2 || rows < 4 * BLOCK) {
        Slice one = {f, xs, rows, out, node_walk, contributions, 0};

        run_slice(&one);
        return one.failed ? -1 : 0;
    }
    per = (rows + threads - 1) / threads;
    for (int i = 0; i < threads; i++) {
        Py_ssize_t start = per * i < rows ? per * i : rows;
        Py_ssize_t n = rows - start < per ? rows - start : per;

        slices[i] = (Slice) {f, xs + start * f->n_features, n, out + start * out_width, node_walk, contributions, 0};
    }
    for (int i = 1; i < threads; i++) {
        if (pthread_create(&tid[i], NULL, run_slice, &slices[i]) != 0)
            break;
        started = i;
    }
    run_slice(&slices[0]);
    for (int i = 1; i <= started; i++)
        pthread_join(tid[i], NULL);
    /* slices whose thread could not start are done here */
    for (int i = started + 1; i < threads; i++)
        run_slice(&slices[i]);
    for (int i = 0; i < threads; i++)
        failed |= slices[i].failed;
    return failed ? -1 : 0;
}

/* The rows of a matrix input x with an output buffer out of out_width float64 per row; -1
 * with a ValueError when their sizes do not fit this forest. */
static Py_ssize_t
matrix_rows(const Forest *self, const Py_buffer *x, const Py_buffer *out, Py_ssize_t out_width)
{
    const Py_ssize_t row_bytes = (Py_ssize_t) (sizeof(double) * (size_t) self->n_features);
    Py_ssize_t rows;

    if (x->len % row_bytes != 0) {
        PyErr_SetString(PyExc_ValueError, "x is not rows * n_features float64 values");
        return -1;
    }
    rows = x->len / row_bytes;
    if (out->len != rows * out_width * (Py_ssize_t) sizeof(double)) {
        PyErr_Format(PyExc_ValueError, "out must hold %zd float64 per row", out_width);
        return -1;
    }
    return rows;
}

/* predict_matrix(x, out[, threads[, node_walk]]): x a C-contiguous float64 buffer of
 * rows * n_features, out a writable float64 buffer of rows; fills out with
 * probabilities. node_walk=1 forces the node walk (tests compare the two walks). */
static PyObject *
Forest_predict_matrix(Forest *self, PyObject *args)
{
    Py_buffer x, out;
    Py_ssize_t rows;
    int threads = 1, node_walk = 0;

    if (!PyArg_ParseTuple(args, "y*w*|ii", &x, &out, &threads, &node_walk))
        return NULL;
    if ((rows = matrix_rows(self, &x, &out, 1)) < 0)
        goto fail;
    {
        const double *xs = (const double *) x.buf;
        double *o = (double *) out.buf;

        Py_BEGIN_ALLOW_THREADS
        run_threads(self, xs, rows, o, 1, threads, node_walk, 0);
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

/* contributions_matrix(x, out[, threads]): TreeSHAP of every row of x (rows * n_features
 * float64) into out (rows * (n_features + 1) float64: each row's SHAP values, then the
 * bias), as contributions_row gives them, without a Python object per row. */
static PyObject *
Forest_contributions_matrix(Forest *self, PyObject *args)
{
    Py_buffer x, out;
    Py_ssize_t rows;
    int threads = 1, failed = 0;

    if (check_explainable(self) < 0)
        return NULL;
    if (!PyArg_ParseTuple(args, "y*w*|i", &x, &out, &threads))
        return NULL;
    if ((rows = matrix_rows(self, &x, &out, self->n_features + 1)) < 0)
        goto fail;
    {
        const double *xs = (const double *) x.buf;
        double *o = (double *) out.buf;

        Py_BEGIN_ALLOW_THREADS
        failed = run_threads(self, xs, rows, o, self->n_features + 1, threads, 0, 1) < 0;
        Py_END_ALLOW_THREADS
    }
    if (failed) {
        PyErr_NoMemory();
        goto fail;
    }
    PyBuffer_Release(&x);
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
fail:
    PyBuffer_Release(&x);
    PyBuffer_Release(&out);
    return NULL;
}

/* A prediction running in a thread of its own while Python goes on (bulk scoring
 * fetches the next batch meanwhile): Forest.predict_matrix_start(x, out) starts it,
 * wait() ends it. It holds the forest and both buffers until it has ended, and a
 * Pending that is dropped unwaited is waited for, so the thread never outlives what
 * it reads and writes. The thread runs only C on those buffers: no Python object,
 * no PostgreSQL function. */
typedef struct {
    PyObject_HEAD
    PyObject *forest;
    Py_buffer x, out;
    Slice slice;
    pthread_t thread;
    int running; /* a thread was started and not yet joined */
} Pending;

static void
Pending_join(Pending *self)
{
    if (self->running) {
        Py_BEGIN_ALLOW_THREADS
        pthread_join(self->thread, NULL);
        Py_END_ALLOW_THREADS
        self->running = 0;
    }
}

static void
Pending_dealloc(Pending *self)
{
    Pending_join(self);
    if (self->x.obj != NULL)
        PyBuffer_Release(&self->x);
    if (self->out.obj != NULL)
        PyBuffer_Release(&self->out);
    Py_XDECREF(self->forest);
    Py_TYPE(self)->tp_free((PyObject *) self);
}

static PyObject *
Pending_wait(Pending *self, PyObject *unused)
{
    (void) unused;
    Pending_join(self);
    Py_RETURN_NONE;
}

static PyMethodDef Pending_methods[] = {
    {"wait", (PyCFunction) Pending_wait, METH_NOARGS, "Wait until out holds the probabilities."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PendingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "churnml.scoring._native_trees.Pending",
    .tp_basicsize = sizeof(Pending),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A prediction running in its own thread (see Forest.predict_matrix_start).",
    .tp_dealloc = (destructor) Pending_dealloc,
    .tp_methods = Pending_methods,
};

/* predict_matrix_start(x, out) -> Pending: predict_matrix in one background thread.
 * When no thread can be started, the prediction is done before this returns. */
static PyObject *
Forest_predict_matrix_start(Forest *self, PyObject *args)
{
    Pending *pending = PyObject_New(Pending, &PendingType);
    Py_ssize_t rows;

    if (pending == NULL)
        return NULL;
    pending->forest = NULL;
    pending->x.obj = pending->out.obj = NULL;
    pending->running = 0;
    if (!PyArg_ParseTuple(args, "y*w*", &pending->x, &pending->out))
        goto fail;
    if ((rows = matrix_rows(self, &pending->x, &pending->out, 1)) < 0)
        goto fail;
    Py_INCREF(self);
    pending->forest = (PyObject *) self;
    pending->slice = (Slice) {self, (const double *) pending->x.buf, rows, (double *) pending->out.buf, 0, 0, 0};
    if (pthread_create(&pending->thread, NULL, run_slice, &pending->slice) == 0)
        pending->running = 1;
    else {
        Py_BEGIN_ALLOW_THREADS
        run_slice(&pending->slice);
        Py_END_ALLOW_THREADS
    }
    return (PyObject *) pending;
fail:
    Py_DECREF(pending);
    return NULL;
}

/* pack_batch(rows, n_numeric) -> (keys: bytes, x: bytes), for bulk scoring.
 *
 * rows: a fetched batch of feature_batches.packed_query rows, dicts with "k" (str or
 * None) and "x" (bytes: n_numeric native float8s from churnml._pack_float8). Returns
 * the keys in churnml._unpack_scores's format (UTF-8, each followed by a 0 byte; None
 * as the one byte 0xFF) and the features as one matrix of float64s, row after row.
 * One pass in C instead of two list comprehensions and a join in Python. */
static PyObject *
pack_batch(PyObject *module, PyObject *args)
{
    PyObject *rows, *seq = NULL, *keys = NULL, *x = NULL, *key_name = NULL, *x_name = NULL, *result = NULL;
    Py_ssize_t n_numeric, n, key_bytes = 0, row_bytes;
    const char **key_data = NULL;
    Py_ssize_t *key_len = NULL;

    (void) module;
    if (!PyArg_ParseTuple(args, "On", &rows, &n_numeric))
        return NULL;
    if (n_numeric < 0 || n_numeric > 100000) {
        PyErr_SetString(PyExc_ValueError, "n_numeric out of range");
        return NULL;
    }
    row_bytes = n_numeric * (Py_ssize_t) sizeof(double);
    key_name = PyUnicode_InternFromString("k");
    x_name = PyUnicode_InternFromString("x");
    seq = PySequence_Fast(rows, "rows must be a sequence");
    if (key_name == NULL || x_name == NULL || seq == NULL)
        goto done;
    n = PySequence_Fast_GET_SIZE(seq);
    key_data = PyMem_Malloc(sizeof(*key_data) * (size_t) (n > 0 ? n : 1));
    key_len = PyMem_Malloc(sizeof(*key_len) * (size_t) (n > 0 ? n : 1));
    x = PyBytes_FromStringAndSize(NULL, n * row_bytes);
    if (key_data == NULL || key_len == NULL || x == NULL) {
        if (x != NULL)
            PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *k, *xv;
        char *xb;
        Py_ssize_t xlen;
        char *dst = PyBytes_AS_STRING(x) + i * row_bytes;

        if (!PyDict_Check(row)) {
            PyErr_SetString(PyExc_TypeError, "rows must be dicts");
            goto done;
        }
        k = PyDict_GetItemWithError(row, key_name);
        xv = k == NULL ? NULL : PyDict_GetItemWithError(row, x_name);
        if (xv == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_KeyError, "a row lacks \"k\" or \"x\"");
            goto done;
        }
        if (k == Py_None) {
            key_data[i] = NULL;
            key_len[i] = 1;
        } else if (PyUnicode_Check(k)) {
            key_data[i] = PyUnicode_AsUTF8AndSize(k, &key_len[i]);
            if (key_data[i] == NULL)
                goto done;
        } else {
            PyErr_SetString(PyExc_TypeError, "a key must be str or None");
            goto done;
        }
        key_bytes += key_len[i] + 1;
        if (PyBytes_AsStringAndSize(xv, &xb, &xlen) < 0)
            goto done;
        if (xlen != row_bytes) {
            PyErr_SetString(PyExc_ValueError, "a row's packed features have the wrong size");
            goto done;
        }
        memcpy(dst, xb, (size_t) row_bytes);
    }
    keys = PyBytes_FromStringAndSize(NULL, key_bytes);
    if (keys == NULL)
        goto done;
    {
        char *out = PyBytes_AS_STRING(keys);

        for (Py_ssize_t i = 0; i < n; i++) {
            if (key_data[i] == NULL)
                *out++ = (char) 0xFF;
            else {
                memcpy(out, key_data[i], (size_t) key_len[i]);
                out += key_len[i];
            }
            *out++ = '\0';
        }
    }
    result = PyTuple_Pack(2, keys, x);
done:
    PyMem_Free(key_data);
    PyMem_Free(key_len);
    Py_XDECREF(keys);
    Py_XDECREF(x);
    Py_XDECREF(seq);
    Py_XDECREF(key_name);
    Py_XDECREF(x_name);
    return result;
}

static PyMethodDef module_methods[] = {
    {"pack_batch", pack_batch, METH_VARARGS,
     "pack_batch(rows, n_numeric) -> (keys, x): a fetched batch as _unpack_scores keys and native float64s."},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef Forest_methods[] = {
    {"margin_row", (PyCFunction) Forest_margin_row, METH_O, "The log-odds of one row (None/NaN = missing)."},
    {"predict_row", (PyCFunction) Forest_predict_row, METH_O, "The probability of one row."},
    {"contributions_row", (PyCFunction) Forest_contributions_row, METH_O,
     "TreeSHAP values of one row (log-odds), then the bias: n_features + 1 floats adding up to its margin."},
    {"predict_matrix", (PyCFunction) Forest_predict_matrix, METH_VARARGS,
     "predict_matrix(x, out[, threads[, node_walk]]): probabilities of a C-contiguous float64 matrix into out."},
    {"predict_matrix_start", (PyCFunction) Forest_predict_matrix_start, METH_VARARGS,
     "predict_matrix_start(x, out) -> Pending: predict_matrix in a background thread; Pending.wait() ends it."},
    {"contributions_matrix", (PyCFunction) Forest_contributions_matrix, METH_VARARGS,
     "contributions_matrix(x, out[, threads]): contributions_row of every row of x into out (n_features + 1 a row)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Forest_members[] = {
    {"n_features", T_PYSSIZET, offsetof(Forest, n_features), READONLY, "Inputs a row has."},
    {"n_trees", T_PYSSIZET, offsetof(Forest, n_trees), READONLY, "Trees in the forest."},
    {"n_nodes", T_PYSSIZET, offsetof(Forest, n_nodes), READONLY, "Nodes in all trees."},
    {"max_depth", T_INT, offsetof(Forest, max_depth), READONLY, "The deepest tree's depth."},
    {"base_margin", T_DOUBLE, offsetof(Forest, base_margin), READONLY, "The margin before any tree."},
    {"expected_value", T_DOUBLE, offsetof(Forest, expected_value), READONLY,
     "TreeSHAP's bias (NaN when a node has zero cover)."},
    {NULL, 0, 0, 0, NULL},
};

static PyObject *
Forest_zero_cover(Forest *self, void *closure)
{
    (void) closure;
    if (self->zero_cover_tree < 0)
        Py_RETURN_NONE;
    return Py_BuildValue("(nn)", self->zero_cover_tree, self->zero_cover_node);
}

static PyGetSetDef Forest_getset[] = {
    {"zero_cover", (getter) Forest_zero_cover, NULL,
     "(tree, node) of the first inner node whose cover is not positive (TreeSHAP cannot divide by it), or None.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
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
    .tp_members = Forest_members,
    .tp_getset = Forest_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_native_trees",
    .m_doc = "churnml's tree evaluator: rows, matrices and TreeSHAP.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__native_trees(void)
{
    PyObject *m;

    if (PyType_Ready(&ForestType) < 0 || PyType_Ready(&PendingType) < 0)
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
