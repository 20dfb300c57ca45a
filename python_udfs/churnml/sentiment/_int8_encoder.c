/*
 * churnml.sentiment._int8_encoder: the sentiment engine's BERT encoder forward pass in C.
 *
 * Why: one call-center message is scored in a few milliseconds, and at 10-30 word
 * pieces the cost of a torch forward pass was a third dispatch overhead (24 quantized
 * products, attention, GELU and layer norms per pass, ~10-45 us each) and a pass of its
 * own for every clause the MIXED rule scores. Here a message and its clauses go through
 * one pass, each as its own segment, and the pass is plain loops over owned buffers.
 *
 * Exactness of packing: every step is per token or per segment. Activations are
 * quantized to uint8 per token (asymmetric: a scale and zero point per row), products
 * accumulate exactly in int32, attention only looks within a segment and positions
 * restart at each segment. So a segment's embedding is bit for bit the same whether it
 * is embedded alone or packed with any others (tested).
 *
 * Products: weights int8 per output channel (symmetric), packed in blocks of 16 output
 * channels x 4 inputs, multiplied with AVX-512 VNNI (vpdpbusd: uint8 x int8 summed in
 * fours into int32) when the CPU has it, else with plain C loops that give the same
 * integers. Embeddings, layer norms, attention, GELU and pooling are float32.
 *
 * Safety: shapes are checked when the encoder is built; every id is checked against the
 * vocabulary and every segment length against the position table before a pass.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define HIDDEN 384
#define HEADS 12
#define HEAD_DIM 32
#define FFN 1536
#define MAX_TOKENS_PER_PASS 65536
/* The pass's helpers are inlined into `forward`, which is compiled twice (target_clones):
 * for x86-64-v4 (AVX-512: 16-wide loops, rounding and floor in one instruction) and for
 * any x86-64; the loader picks the clone for the CPU. */
#define HOT static inline __attribute__((always_inline))

typedef struct {
    int32_t n, k;      /* outputs, inputs: n % 32 == 0, k % 4 == 0 */
    int8_t *w;         /* [n/16][k/4][16][4] */
    int32_t *col_sum;  /* per output: sum of its int8 weights */
    float *scale;      /* per output */
    float *bias;       /* per output */
} QLinear;

typedef struct {
    float *gamma, *beta;
} Norm;

typedef struct {
    QLinear qkv, attn_out, inter, out;
    Norm attn_norm, out_norm;
} Layer;

typedef struct {
    PyObject_HEAD
    Py_ssize_t vocab, max_positions, n_layers;
    float *word, *position, *segment;
    Norm embedding_norm;
    Layer *layers;
    float eps;
} Encoder;

static int cpu_vnni = -1; /* what the CPU has */
static int use_vnni = -1; /* what products use: the CPU's, unless set_vnni(False) */

static int
cpu_has_vnni(void)
{
    if (cpu_vnni < 0) {
#if HAVE_X86 && defined(__GNUC__)
        __builtin_cpu_init();
        cpu_vnni = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("avx512vnni");
#else
        cpu_vnni = 0;
#endif
    }
    return cpu_vnni;
}

static int
has_vnni(void)
{
    if (use_vnni < 0)
        use_vnni = cpu_has_vnni();
    return use_vnni;
}

/* ---- building ---------------------------------------------------------------- */

static void *
alloc64(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0)
        bytes = 64;
    if (posix_memalign(&p, 64, (bytes + 63) / 64 * 64) != 0)
        return NULL;
    return p;
}

/* A copy of a C-contiguous buffer of exactly `count` items of `itemsize` bytes. */
static void *
copy_buffer(PyObject *obj, Py_ssize_t count, Py_ssize_t itemsize, const char *what)
{
    Py_buffer view;
    void *out;
    if (PyObject_GetBuffer(obj, &view, PyBUF_C_CONTIGUOUS) != 0)
        return NULL;
    if (view.len != count * itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd bytes, got %zd", what, count * itemsize, view.len);
        PyBuffer_Release(&view);
        return NULL;
    }
    out = alloc64((size_t)view.len);
    if (out == NULL) {
        PyBuffer_Release(&view);
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(out, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    return out;
}

/* weights: int8 [n][k] row-major; scale, bias: float32 [n]. */
static int
build_linear(QLinear *q, PyObject *weights, PyObject *scale, PyObject *bias, int32_t n, int32_t k, const char *what)
{
    int8_t *plain = copy_buffer(weights, (Py_ssize_t)n * k, 1, what);
    if (plain == NULL)
        return -1;
    q->n = n;
    q->k = k;
    q->w = alloc64((size_t)n * k);
    q->col_sum = alloc64(sizeof(int32_t) * (size_t)n);
    if (q->w == NULL || q->col_sum == NULL) {
        free(plain);
        PyErr_NoMemory();
        return -1;
    }
    for (int32_t o = 0; o < n; o++) {
        int32_t sum = 0;
        for (int32_t i = 0; i < k; i++) {
            int8_t v = plain[(size_t)o * k + i];
            size_t at = (((size_t)(o / 16) * (k / 4) + i / 4) * 16 + o % 16) * 4 + i % 4;
            q->w[at] = v;
            sum += v;
        }
        q->col_sum[o] = sum;
    }
    free(plain);
    q->scale = copy_buffer(scale, n, 4, what);
    if (q->scale == NULL)
        return -1;
    q->bias = copy_buffer(bias, n, 4, what);
    return q->bias == NULL ? -1 : 0;
}

static int
build_norm(Norm *norm, PyObject *gamma, PyObject *beta, const char *what)
{
    norm->gamma = copy_buffer(gamma, HIDDEN, 4, what);
    if (norm->gamma == NULL)
        return -1;
    norm->beta = copy_buffer(beta, HIDDEN, 4, what);
    return norm->beta == NULL ? -1 : 0;
}

static void
free_linear(QLinear *q)
{
    free(q->w);
    free(q->col_sum);
    free(q->scale);
    free(q->bias);
}

static void
Encoder_dealloc(Encoder *self)
{
    free(self->word);
    free(self->position);
    free(self->segment);
    free(self->embedding_norm.gamma);
    free(self->embedding_norm.beta);
    if (self->layers != NULL) {
        for (Py_ssize_t i = 0; i < self->n_layers; i++) {
            Layer *l = &self->layers[i];
            free_linear(&l->qkv);
            free_linear(&l->attn_out);
            free_linear(&l->inter);
            free_linear(&l->out);
            free(l->attn_norm.gamma);
            free(l->attn_norm.beta);
            free(l->out_norm.gamma);
            free(l->out_norm.beta);
        }
        free(self->layers);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/*
 * Encoder(word, position, segment, norm_gamma, norm_beta, layers, eps)
 * word: float32 [vocab][384] (vocab = len / 384), position: float32 [P][384], segment:
 * float32 [384]; layers: a sequence of 16-tuples
 * (qkv_w, qkv_scale, qkv_bias, attn_out_w, .., inter_w, .., out_w, .., attn_norm_gamma,
 * attn_norm_beta, out_norm_gamma, out_norm_beta), weights int8 [out][in].
 */
static int
Encoder_init(Encoder *self, PyObject *args, PyObject *kwds)
{
    PyObject *word, *position, *segment, *gamma, *beta, *layers, *seq;
    double eps;
    Py_buffer view;
    static char *kwlist[] = {"word", "position", "segment", "norm_gamma", "norm_beta", "layers", "eps", NULL};
    if (self->layers != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Encoder is already initialised");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOOOd", kwlist, &word, &position, &segment, &gamma, &beta,
                                     &layers, &eps))
        return -1;
    if (!(eps > 0)) {
        PyErr_SetString(PyExc_ValueError, "eps must be > 0");
        return -1;
    }
    self->eps = (float)eps;
    if (PyObject_GetBuffer(word, &view, PyBUF_C_CONTIGUOUS) != 0)
        return -1;
    self->vocab = view.len / (HIDDEN * 4);
    PyBuffer_Release(&view);
    if (PyObject_GetBuffer(position, &view, PyBUF_C_CONTIGUOUS) != 0)
        return -1;
    self->max_positions = view.len / (HIDDEN * 4);
    PyBuffer_Release(&view);
    if (self->vocab < 1 || self->max_positions < 1) {
        PyErr_SetString(PyExc_ValueError, "empty word or position table");
        return -1;
    }
    if ((self->word = copy_buffer(word, self->vocab * HIDDEN, 4, "word")) == NULL ||
        (self->position = copy_buffer(position, self->max_positions * HIDDEN, 4, "position")) == NULL ||
        (self->segment = copy_buffer(segment, HIDDEN, 4, "segment")) == NULL ||
        build_norm(&self->embedding_norm, gamma, beta, "embedding norm") != 0)
        return -1;
    seq = PySequence_Fast(layers, "layers must be a sequence");
    if (seq == NULL)
        return -1;
    Py_ssize_t n_layers = PySequence_Fast_GET_SIZE(seq);
    if (n_layers < 1) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "no layers");
        return -1;
    }
    self->layers = calloc((size_t)n_layers, sizeof(Layer));
    if (self->layers == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    self->n_layers = n_layers;
    for (Py_ssize_t i = 0; i < n_layers; i++) {
        PyObject *t = PySequence_Fast_GET_ITEM(seq, i);
        Layer *l = &self->layers[i];
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 16) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "each layer must be a 16-tuple");
            return -1;
        }
#define ITEM(j) PyTuple_GET_ITEM(t, j)
        if (build_linear(&l->qkv, ITEM(0), ITEM(1), ITEM(2), 3 * HIDDEN, HIDDEN, "qkv") != 0 ||
            build_linear(&l->attn_out, ITEM(3), ITEM(4), ITEM(5), HIDDEN, HIDDEN, "attention output") != 0 ||
            build_linear(&l->inter, ITEM(6), ITEM(7), ITEM(8), FFN, HIDDEN, "intermediate") != 0 ||
            build_linear(&l->out, ITEM(9), ITEM(10), ITEM(11), HIDDEN, FFN, "output") != 0 ||
            build_norm(&l->attn_norm, ITEM(12), ITEM(13), "attention norm") != 0 ||
            build_norm(&l->out_norm, ITEM(14), ITEM(15), "output norm") != 0) {
            Py_DECREF(seq);
            return -1;
        }
#undef ITEM
    }
    Py_DECREF(seq);
    return 0;
}

/* ---- the pass ---------------------------------------------------------------- */

/* Per-row asymmetric uint8 quantization: x ~ scale * (q - zero). */
HOT void
quantize_rows(const float *x, Py_ssize_t rows, int32_t k, uint8_t *q, float *scale, int32_t *zero)
{
    for (Py_ssize_t r = 0; r < rows; r++) {
        const float *row = x + r * k;
        float lo = 0.0f, hi = 0.0f; /* the range always holds 0, so 0 is exact */
#pragma omp simd reduction(min : lo) reduction(max : hi)
        for (int32_t i = 0; i < k; i++) {
            lo = row[i] < lo ? row[i] : lo;
            hi = row[i] > hi ? row[i] : hi;
        }
        float s = (hi - lo) / 255.0f;
        if (!(s > 0.0f)) {
            memset(q + r * k, 0, (size_t)k);
            scale[r] = 1.0f;
            zero[r] = 0;
            continue;
        }
        int32_t z = (int32_t)nearbyintf(-lo / s);
        z = z < 0 ? 0 : (z > 255 ? 255 : z);
        float inv = 1.0f / s;
#pragma omp simd
        for (int32_t i = 0; i < k; i++) {
            int32_t v = (int32_t)nearbyintf(row[i] * inv) + z;
            q[r * k + i] = (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
        }
        scale[r] = s;
        zero[r] = z;
    }
}

static void
gemm_plain(const QLinear *w, const uint8_t *q, Py_ssize_t rows, int32_t *acc)
{
    int32_t k4 = w->k / 4;
    for (Py_ssize_t r = 0; r < rows; r++) {
        const uint8_t *a = q + r * w->k;
        int32_t *out = acc + r * w->n;
        for (int32_t g = 0; g < w->n / 16; g++) {
            int32_t sums[16] = {0};
            const int8_t *block = w->w + (size_t)g * k4 * 64;
            for (int32_t s = 0; s < k4; s++) {
                const int8_t *b = block + (size_t)s * 64;
                const uint8_t *x = a + 4 * s;
                for (int c = 0; c < 16; c++)
                    sums[c] += x[0] * b[4 * c] + x[1] * b[4 * c + 1] + x[2] * b[4 * c + 2] + x[3] * b[4 * c + 3];
            }
            memcpy(out + g * 16, sums, sizeof(sums));
        }
    }
}

#if HAVE_X86 && defined(__GNUC__)
static inline __attribute__((target("avx512f,avx512bw,avx512vnni"))) __m512i
broadcast4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* Four rows x 32 outputs per step: 8 accumulators, two weight vectors loaded per 4 inputs. */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void
gemm_vnni(const QLinear *w, const uint8_t *q, Py_ssize_t rows, int32_t *acc)
{
    const int32_t k = w->k, k4 = k / 4, n = w->n;
    for (int32_t g = 0; g < n / 16; g += 2) {
        const int8_t *b0 = w->w + (size_t)g * k4 * 64;
        const int8_t *b1 = b0 + (size_t)k4 * 64;
        Py_ssize_t r = 0;
        for (; r + 4 <= rows; r += 4) {
            const uint8_t *a = q + r * k;
            __m512i c00 = _mm512_setzero_si512(), c01 = _mm512_setzero_si512();
            __m512i c10 = _mm512_setzero_si512(), c11 = _mm512_setzero_si512();
            __m512i c20 = _mm512_setzero_si512(), c21 = _mm512_setzero_si512();
            __m512i c30 = _mm512_setzero_si512(), c31 = _mm512_setzero_si512();
            for (int32_t s = 0; s < k4; s++) {
                __m512i w0 = _mm512_load_si512((const void *)(b0 + (size_t)s * 64));
                __m512i w1 = _mm512_load_si512((const void *)(b1 + (size_t)s * 64));
                __m512i x;
                x = broadcast4(a + 4 * s);
                c00 = _mm512_dpbusd_epi32(c00, x, w0);
                c01 = _mm512_dpbusd_epi32(c01, x, w1);
                x = broadcast4(a + k + 4 * s);
                c10 = _mm512_dpbusd_epi32(c10, x, w0);
                c11 = _mm512_dpbusd_epi32(c11, x, w1);
                x = broadcast4(a + 2 * k + 4 * s);
                c20 = _mm512_dpbusd_epi32(c20, x, w0);
                c21 = _mm512_dpbusd_epi32(c21, x, w1);
                x = broadcast4(a + 3 * k + 4 * s);
                c30 = _mm512_dpbusd_epi32(c30, x, w0);
                c31 = _mm512_dpbusd_epi32(c31, x, w1);
            }
            int32_t *o = acc + r * n + g * 16;
            _mm512_storeu_si512((void *)o, c00);
            _mm512_storeu_si512((void *)(o + 16), c01);
            _mm512_storeu_si512((void *)(o + n), c10);
            _mm512_storeu_si512((void *)(o + n + 16), c11);
            _mm512_storeu_si512((void *)(o + 2 * n), c20);
            _mm512_storeu_si512((void *)(o + 2 * n + 16), c21);
            _mm512_storeu_si512((void *)(o + 3 * n), c30);
            _mm512_storeu_si512((void *)(o + 3 * n + 16), c31);
        }
        for (; r < rows; r++) {
            const uint8_t *a = q + r * k;
            __m512i c0 = _mm512_setzero_si512(), c1 = _mm512_setzero_si512();
            for (int32_t s = 0; s < k4; s++) {
                __m512i x = broadcast4(a + 4 * s);
                c0 = _mm512_dpbusd_epi32(c0, x, _mm512_load_si512((const void *)(b0 + (size_t)s * 64)));
                c1 = _mm512_dpbusd_epi32(c1, x, _mm512_load_si512((const void *)(b1 + (size_t)s * 64)));
            }
            _mm512_storeu_si512((void *)(acc + r * n + g * 16), c0);
            _mm512_storeu_si512((void *)(acc + r * n + g * 16 + 16), c1);
        }
    }
}
#endif

typedef struct {
    uint8_t *q;
    float *row_scale;
    int32_t *row_zero;
    int32_t *acc;
} Scratch;

/* y[rows][n] = dequantized (x @ W^T) + bias */
HOT void
linear(const QLinear *w, const float *x, Py_ssize_t rows, float *y, Scratch *s)
{
    quantize_rows(x, rows, w->k, s->q, s->row_scale, s->row_zero);
#if HAVE_X86 && defined(__GNUC__)
    if (has_vnni())
        gemm_vnni(w, s->q, rows, s->acc);
    else
#endif
        gemm_plain(w, s->q, rows, s->acc);
    for (Py_ssize_t r = 0; r < rows; r++) {
        const int32_t *a = s->acc + r * w->n;
        float *out = y + r * w->n;
        const float rs = s->row_scale[r];
        const int32_t z = s->row_zero[r];
        for (int32_t o = 0; o < w->n; o++)
            out[o] = rs * w->scale[o] * (float)(a[o] - z * w->col_sum[o]) + w->bias[o];
    }
}

/* x[r] = LayerNorm(x[r] + add[r]) (add may be NULL) */
HOT void
add_norm(float *x, const float *add, Py_ssize_t rows, const Norm *norm, float eps)
{
    for (Py_ssize_t r = 0; r < rows; r++) {
        float *v = x + r * HIDDEN;
        if (add != NULL)
            for (int i = 0; i < HIDDEN; i++)
                v[i] += add[r * HIDDEN + i];
        float mean = 0.0f, var = 0.0f;
#pragma omp simd reduction(+ : mean)
        for (int i = 0; i < HIDDEN; i++)
            mean += v[i];
        mean /= HIDDEN;
#pragma omp simd reduction(+ : var)
        for (int i = 0; i < HIDDEN; i++) {
            float d = v[i] - mean;
            var += d * d;
        }
        float inv = 1.0f / sqrtf(var / HIDDEN + eps);
        for (int i = 0; i < HIDDEN; i++)
            v[i] = (v[i] - mean) * inv * norm->gamma[i] + norm->beta[i];
    }
}

/* erf for float32 as a rational function (Eigen's generic_fast_erf_float): no branch, no
 * exp, so the GELU loop vectorizes; |error| < 5e-7 (tested against math.erf). */
HOT float
fast_erf(float x)
{
    x = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
    const float x2 = x * x;
    float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
    p = x2 * p + -2.10102402082508e-06f;
    p = x2 * p + -5.69250639462346e-05f;
    p = x2 * p + -7.34990630326855e-04f;
    p = x2 * p + -2.95459980854025e-03f;
    p = x2 * p + -1.60960333262415e-02f;
    p = x * p;
    float q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
    q = x2 * q + -1.68282697438203e-03f;
    q = x2 * q + -7.37332916720468e-03f;
    q = x2 * q + -1.42647390514189e-02f;
    return p / q;
}

HOT void
gelu(float *x, Py_ssize_t count)
{
    for (Py_ssize_t i = 0; i < count; i++)
        x[i] = 0.5f * x[i] * (1.0f + fast_erf(x[i] * 0.70710678118654752f));
}

/* expf for x <= 0 (softmax after subtracting the max): Cephes' polynomial, |rel error| < 2e-7. */
HOT float
exp_nonpositive(float x)
{
    x = x < -87.0f ? -87.0f : x;
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

/* Self-attention within each segment; qkv rows are [q | k | v], heads of HEAD_DIM.
 * scratch: (HEAD_DIM + 1) * the longest segment rounded up to 16: the head's keys,
 * transposed and zero-padded so that a query's scores are computed 16 keys at a time
 * in one register, and the scores. */
HOT void
attention(const float *qkv, const int32_t *lengths, Py_ssize_t segments, float *ctx, float *scratch)
{
    const float scale = 0.17677669529663687f; /* 1 / sqrt(HEAD_DIM) */
    Py_ssize_t first = 0;
    for (Py_ssize_t s = 0; s < segments; s++) {
        const int32_t len = lengths[s], stride = (len + 15) / 16 * 16;
        float *keys = scratch, *probs = scratch + (size_t)HEAD_DIM * stride;
        for (int h = 0; h < HEADS; h++) {
            for (int32_t j = 0; j < len; j++) {
                const float *kj = qkv + (first + j) * 3 * HIDDEN + HIDDEN + h * HEAD_DIM;
                for (int d = 0; d < HEAD_DIM; d++)
                    keys[d * stride + j] = kj[d];
            }
            for (int d = 0; d < HEAD_DIM; d++)
                for (int32_t j = len; j < stride; j++)
                    keys[d * stride + j] = 0.0f;
            for (int32_t i = 0; i < len; i++) {
                const float *qi = qkv + (first + i) * 3 * HIDDEN + h * HEAD_DIM;
                for (int32_t jb = 0; jb < stride; jb += 16) {
                    float acc[16] = {0};
                    for (int d = 0; d < HEAD_DIM; d++) {
                        const float qd = qi[d] * scale, *row = keys + d * stride + jb;
#pragma omp simd
                        for (int jj = 0; jj < 16; jj++)
                            acc[jj] += qd * row[jj];
                    }
                    memcpy(probs + jb, acc, sizeof(acc));
                }
                float top = -INFINITY;
#pragma omp simd reduction(max : top)
                for (int32_t j = 0; j < len; j++)
                    top = probs[j] > top ? probs[j] : top;
                float total = 0.0f;
#pragma omp simd reduction(+ : total)
                for (int32_t j = 0; j < len; j++) {
                    probs[j] = exp_nonpositive(probs[j] - top);
                    total += probs[j];
                }
                const float inv = 1.0f / total;
                float out[HEAD_DIM] = {0};
                for (int32_t j = 0; j < len; j++) {
                    const float *vj = qkv + (first + j) * 3 * HIDDEN + 2 * HIDDEN + h * HEAD_DIM;
                    const float p = probs[j] * inv;
#pragma omp simd
                    for (int d = 0; d < HEAD_DIM; d++)
                        out[d] += p * vj[d];
                }
                memcpy(ctx + (first + i) * HIDDEN + h * HEAD_DIM, out, sizeof(out));
            }
        }
        first += len;
    }
}

typedef struct {
    float *x, *qkv, *ctx, *tmp, *hidden, *probs;
    Scratch s;
} Buffers;

static void
free_buffers(Buffers *b)
{
    free(b->x);
    free(b->qkv);
    free(b->ctx);
    free(b->tmp);
    free(b->hidden);
    free(b->probs);
    free(b->s.q);
    free(b->s.row_scale);
    free(b->s.row_zero);
    free(b->s.acc);
}

static int
alloc_buffers(Buffers *b, Py_ssize_t tokens, int32_t longest)
{
    size_t t = (size_t)tokens;
    memset(b, 0, sizeof(*b));
    b->x = alloc64(t * HIDDEN * 4);
    b->qkv = alloc64(t * 3 * HIDDEN * 4);
    b->ctx = alloc64(t * HIDDEN * 4);
    b->tmp = alloc64(t * HIDDEN * 4);
    b->hidden = alloc64(t * FFN * 4);
    b->probs = alloc64((size_t)(HEAD_DIM + 1) * ((longest + 15) / 16 * 16) * 4);
    b->s.q = alloc64(t * FFN);
    b->s.row_scale = alloc64(t * 4);
    b->s.row_zero = alloc64(t * 4);
    b->s.acc = alloc64(t * FFN * 4);
    if (!b->x || !b->qkv || !b->ctx || !b->tmp || !b->hidden || !b->probs || !b->s.q || !b->s.row_scale ||
        !b->s.row_zero || !b->s.acc) {
        free_buffers(b);
        return -1;
    }
    return 0;
}

#if HAVE_X86 && defined(__GNUC__)
__attribute__((target_clones("arch=x86-64-v4", "default")))
#endif
static void
forward(const Encoder *e, const int32_t *ids, const int32_t *lengths, Py_ssize_t segments, Py_ssize_t tokens,
        Buffers *b, float *out)
{
    Py_ssize_t t = 0;
    for (Py_ssize_t s = 0; s < segments; s++)
        for (int32_t p = 0; p < lengths[s]; p++, t++) {
            const float *w = e->word + (size_t)ids[t] * HIDDEN, *pos = e->position + (size_t)p * HIDDEN;
            for (int i = 0; i < HIDDEN; i++)
                b->x[t * HIDDEN + i] = w[i] + pos[i] + e->segment[i];
        }
    add_norm(b->x, NULL, tokens, &e->embedding_norm, e->eps);
    for (Py_ssize_t l = 0; l < e->n_layers; l++) {
        const Layer *layer = &e->layers[l];
        linear(&layer->qkv, b->x, tokens, b->qkv, &b->s);
        attention(b->qkv, lengths, segments, b->ctx, b->probs);
        linear(&layer->attn_out, b->ctx, tokens, b->tmp, &b->s);
        add_norm(b->x, b->tmp, tokens, &layer->attn_norm, e->eps);
        linear(&layer->inter, b->x, tokens, b->hidden, &b->s);
        gelu(b->hidden, tokens * FFN);
        linear(&layer->out, b->hidden, tokens, b->tmp, &b->s);
        add_norm(b->x, b->tmp, tokens, &layer->out_norm, e->eps);
    }
    /* mean over each segment's tokens, then L2 normalisation (sentence-transformers') */
    t = 0;
    for (Py_ssize_t s = 0; s < segments; s++) {
        float *o = out + s * HIDDEN;
        memset(o, 0, HIDDEN * sizeof(float));
        for (int32_t p = 0; p < lengths[s]; p++, t++)
            for (int i = 0; i < HIDDEN; i++)
                o[i] += b->x[t * HIDDEN + i];
        float norm = 0.0f;
#pragma omp simd reduction(+ : norm)
        for (int i = 0; i < HIDDEN; i++) {
            o[i] /= (float)lengths[s];
            norm += o[i] * o[i];
        }
        norm = sqrtf(norm);
        norm = norm > 1e-12f ? norm : 1e-12f;
        for (int i = 0; i < HIDDEN; i++)
            o[i] /= norm;
    }
}

/* embed(ids: int32 buffer, lengths: int32 buffer) -> bytes: float32 [len(lengths)][384] */
static PyObject *
Encoder_embed(Encoder *self, PyObject *args)
{
    Py_buffer ids, lengths;
    PyObject *result = NULL;
    Buffers b;
    if (self->layers == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Encoder is not initialised");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*y*", &ids, &lengths))
        return NULL;
    Py_ssize_t segments = lengths.len / 4, tokens = ids.len / 4, total = 0;
    int32_t longest = 0;
    const int32_t *id = ids.buf, *len = lengths.len ? lengths.buf : NULL;
    if (ids.len % 4 != 0 || lengths.len % 4 != 0) {
        PyErr_SetString(PyExc_ValueError, "ids and lengths must be int32 buffers");
        goto done;
    }
    for (Py_ssize_t s = 0; s < segments; s++) {
        if (len[s] < 1 || len[s] > self->max_positions) {
            PyErr_Format(PyExc_ValueError, "segment %zd has %d tokens, not 1 to %zd", s, len[s], self->max_positions);
            goto done;
        }
        total += len[s];
        longest = len[s] > longest ? len[s] : longest;
    }
    if (total != tokens || tokens > MAX_TOKENS_PER_PASS) {
        PyErr_Format(PyExc_ValueError, "%zd ids for segments of %zd tokens in all (at most %d a pass)", tokens, total,
                     MAX_TOKENS_PER_PASS);
        goto done;
    }
    for (Py_ssize_t t = 0; t < tokens; t++)
        if (id[t] < 0 || id[t] >= self->vocab) {
            PyErr_Format(PyExc_ValueError, "token id %d is not in the vocabulary of %zd", id[t], self->vocab);
            goto done;
        }
    result = PyBytes_FromStringAndSize(NULL, segments * HIDDEN * 4);
    if (result == NULL || segments == 0)
        goto done;
    if (alloc_buffers(&b, tokens, longest) != 0) {
        Py_CLEAR(result);
        PyErr_NoMemory();
        goto done;
    }
    float *out = (float *)PyBytes_AS_STRING(result);
    Py_BEGIN_ALLOW_THREADS
    forward(self, id, len, segments, tokens, &b, out);
    Py_END_ALLOW_THREADS
    free_buffers(&b);
done:
    PyBuffer_Release(&ids);
    PyBuffer_Release(&lengths);
    return result;
}

static PyObject *
Encoder_get_vocab(Encoder *self, void *closure)
{
    (void)closure;
    return PyLong_FromSsize_t(self->vocab);
}

static PyObject *
Encoder_get_max_positions(Encoder *self, void *closure)
{
    (void)closure;
    return PyLong_FromSsize_t(self->max_positions);
}

static PyMethodDef Encoder_methods[] = {
    {"embed", (PyCFunction)Encoder_embed, METH_VARARGS,
     "embed(ids, lengths) -> bytes: the float32 [segments][384] normalised mean-pooled embeddings of the "
     "segments, each `lengths[i]` consecutive int32 `ids` ([CLS] ... [SEP])."},
    {NULL}};

static PyGetSetDef Encoder_getset[] = {
    {"vocab", (getter)Encoder_get_vocab, NULL, "vocabulary size", NULL},
    {"max_positions", (getter)Encoder_get_max_positions, NULL, "longest segment, in tokens", NULL},
    {NULL}};

static PyTypeObject EncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "churnml.sentiment._int8_encoder.Encoder",
    .tp_basicsize = sizeof(Encoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A BERT encoder with int8 linear layers (per-token activations), built from its weights.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Encoder_init,
    .tp_dealloc = (destructor)Encoder_dealloc,
    .tp_methods = Encoder_methods,
    .tp_getset = Encoder_getset,
};

/* f over a float32 buffer, as bytes: the pass's erf and exp, for the tests */
static PyObject *
map_floats(PyObject *arg, float (*f)(float))
{
    Py_buffer in;
    if (PyObject_GetBuffer(arg, &in, PyBUF_C_CONTIGUOUS) != 0)
        return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, in.len / 4 * 4);
    if (out != NULL) {
        const float *x = in.buf;
        float *y = (float *)PyBytes_AS_STRING(out);
        for (Py_ssize_t i = 0; i < in.len / 4; i++)
            y[i] = f(x[i]);
    }
    PyBuffer_Release(&in);
    return out;
}

static PyObject *
erf_values(PyObject *module, PyObject *arg)
{
    (void)module;
    return map_floats(arg, fast_erf);
}

static PyObject *
exp_values(PyObject *module, PyObject *arg)
{
    (void)module;
    return map_floats(arg, exp_nonpositive);
}

static PyObject *
set_vnni(PyObject *module, PyObject *arg)
{
    (void)module;
    /* set_vnni(False) forces the plain C products (the tests compare both); returns the old state */
    int old = has_vnni();
    int want = PyObject_IsTrue(arg);
    if (want < 0)
        return NULL;
    if (want && !cpu_has_vnni()) {
        PyErr_SetString(PyExc_RuntimeError, "this CPU has no AVX-512 VNNI");
        return NULL;
    }
    use_vnni = want;
    return PyBool_FromLong(old);
}

static PyObject *
vnni(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    return PyBool_FromLong(has_vnni());
}

static PyMethodDef module_methods[] = {
    {"erf_values", erf_values, METH_O, "the pass's erf over a float32 buffer (for tests)"},
    {"exp_values", exp_values, METH_O, "the pass's exp over a float32 buffer of values <= 0 (for tests)"},
    {"set_vnni", set_vnni, METH_O, "use AVX-512 VNNI products (True, when the CPU has it) or plain C (False)"},
    {"vnni", vnni, METH_NOARGS, "whether products use AVX-512 VNNI"},
    {NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, .m_name = "_int8_encoder", .m_doc = "The int8 BERT encoder of the sentiment engine.",
    .m_size = -1, .m_methods = module_methods};

PyMODINIT_FUNC
PyInit__int8_encoder(void)
{
    PyObject *m;
    if (PyType_Ready(&EncoderType) < 0)
        return NULL;
    m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    Py_INCREF(&EncoderType);
    if (PyModule_AddObject(m, "Encoder", (PyObject *)&EncoderType) < 0) {
        Py_DECREF(&EncoderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
