/* A 2-d convolution followed by a max pool (and a ReLU), forward and backward, for one
   geometry.

   The includer defines the geometry as constants and NAME(f) as a unique prefix, then
   includes this file (cnn_tui/core/convpool.py writes that unit and compiles it).
   Constants: CI, CO channels in and out; H, W the input plane; KH, KW the kernel (KW <= 8);
   PH, PW zero padding; WO the convolution's output width; HP, WP the pooled plane; PKH, PKW
   the pool window, equal to its stride; RELU 1 when a ReLU follows the pool (folded in: the
   output is max(pooled, 0), NaN kept, and the backward pass drops the gradient where the
   output is not above 0, as torch's ReLU does); CB output channels computed together. The
   convolution's stride is 1.

   The forward pass keeps, for every pooled value, where its maximum was in the convolution's
   plane (y * WO + x, as torch's max pool records it: the first maximum in row order, or a NaN).
   The backward pass then needs the convolution only at those places: the pool passes each
   gradient to one of its PKH x PKW values, so the weight and input gradients are sums over
   the pooled values alone, a quarter of the work of a dense backward behind a 2 x 2 pool,
   and less again where a ReLU after the pool zeroed the gradient.

   Rows are computed 8 floats at a time with GCC's vector extension; the buffers are padded
   so that every 8-float load and store stays inside them. */

#ifndef CONVPOOL_PRELUDE
#define CONVPOOL_PRELUDE
#include <omp.h>
#include <string.h>

typedef float v8 __attribute__((vector_size(32)));

static inline v8 ld(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
static inline void st(float *p, v8 v) { memcpy(p, &v, sizeof v); }
#endif

#define XH (H + 2 * PH)           /* padded input rows */
#define NV ((WO + 7) / 8)          /* 8-float vectors per output row */
#define WOV (NV * 8)
#define XWV ((WOV + KW + 15) / 8 * 8)  /* padded input row: room for every vector load, 8-aligned */
#define HPK (HP * PKH)             /* output rows that some pool window reads */
#define XBUF (CI * XH * XWV)       /* floats in one padded input image */
#define WROWS (CI * KH)            /* kernel rows of one output channel */

#define ROUND16(f) (((f) + 15) / 16 * 16)
#define FWD_THREAD ROUND16(XBUF + (long)CO * HPK * WOV)
#define SHARES ((long)CO * WROWS * 8 + CO)   /* a thread's weight and bias gradient */
#define BWD_THREAD ROUND16(2L * XBUF + 2L * HP * WP + SHARES)

/* The floats of scratch a call needs, for the caller to allocate. */
long NAME(fwd_scratch)(int threads) { return threads * FWD_THREAD; }
long NAME(bwd_scratch)(int threads) { return threads * BWD_THREAD; }

static inline void NAME(load_image)(const float *xi, float *xp)
{
    memset(xp, 0, sizeof(float) * XBUF);
    for (int c = 0; c < CI; c++)
        for (int r = 0; r < H; r++)
            memcpy(xp + (c * XH + r + PH) * XWV + PW, xi + (c * H + r) * W, sizeof(float) * W);
}

/* Output channels co0 .. co0+cb-1 (cb <= CB) of one image, every row a pool reads. */
static inline void NAME(rows)(const float *xp, const float *w, const float *b, float *acc, int co0, int cb)
{
    for (int y = 0; y < HPK; y++) {
        v8 a[CB][NV];
        for (int j = 0; j < CB; j++)
            for (int v = 0; v < NV; v++) a[j][v] = (v8){0} + (j < cb ? b[co0 + j] : 0.0f);
        for (int c = 0; c < CI; c++)
            for (int ky = 0; ky < KH; ky++) {
                const float *row = xp + (c * XH + y + ky) * XWV;
                for (int kx = 0; kx < KW; kx++) {
                    v8 xv[NV];
                    for (int v = 0; v < NV; v++) xv[v] = ld(row + v * 8 + kx);
                    for (int j = 0; j < CB; j++) {
                        float wv = j < cb ? w[(((co0 + j) * CI + c) * KH + ky) * KW + kx] : 0.0f;
                        for (int v = 0; v < NV; v++) a[j][v] += wv * xv[v];
                    }
                }
            }
        for (int j = 0; j < cb; j++)
            for (int v = 0; v < NV; v++) st(acc + ((co0 + j) * HPK + y) * WOV + v * 8, a[j][v]);
    }
}

/* x: n×CI×H×W; w: CO×CI×KH×KW; b: CO; out and idx: n×CO×HP×WP. */
void NAME(fwd)(int n, int threads, const float *x, const float *w, const float *b,
               float *out, int *idx, float *scratch)
{
    #pragma omp parallel num_threads(threads)
    {
        float *xp = scratch + omp_get_thread_num() * FWD_THREAD;
        float *acc = xp + XBUF;
        #pragma omp for schedule(static)
        for (int i = 0; i < n; i++) {
            NAME(load_image)(x + (long)i * CI * H * W, xp);
            int co0 = 0;
            for (; co0 + CB <= CO; co0 += CB) NAME(rows)(xp, w, b, acc, co0, CB);
            if (co0 < CO) NAME(rows)(xp, w, b, acc, co0, CO - co0);
            for (int co = 0; co < CO; co++) {
                const float *plane = acc + co * HPK * WOV;
                float *o = out + ((long)i * CO + co) * HP * WP;
                int *ix = idx + ((long)i * CO + co) * HP * WP;
                for (int py = 0; py < HP; py++)
                    for (int px = 0; px < WP; px++) {
                        int by = py * PKH, bx = px * PKW;
                        float m = plane[by * WOV + bx];
                        int at = by * WO + bx;
                        for (int dy = 0; dy < PKH; dy++)
                            for (int dx = 0; dx < PKW; dx++) {
                                float v = plane[(by + dy) * WOV + bx + dx];
                                if (v > m || v != v) { m = v; at = (by + dy) * WO + bx + dx; }
                            }
                        o[py * WP + px] = RELU && !(m > 0.0f) && m == m ? 0.0f : m;
                        ix[py * WP + px] = at;
                    }
            }
        }
    }
}

/* g: the output's gradient, n×CO×HP×WP; out: the forward pass's output (read when RELU);
   dx: n×CI×H×W, or NULL when the input needs none; dw: CO×CI×KH×KW and db: CO, written (db
   may be NULL).

   Per image and output channel, the nonzero gradients and where their maxima were are
   gathered first (without a branch: half of them are zero behind a ReLU, at random). Each
   kernel row's weight gradient is then one run of multiply-adds over them into two
   registers. The input's gradient is added at each maximum in turn. */
void NAME(bwd)(int n, int threads, const float *x, const float *w, const float *g, const int *idx,
               const float *out, float *dx, float *dw_out, float *db_out, float *scratch)
{
    #pragma omp parallel num_threads(threads)
    {
        float *xp = scratch + omp_get_thread_num() * BWD_THREAD;
        float *dxp = xp + XBUF;
        float *gs = dxp + XBUF;                  /* the nonzero gradients of one channel */
        int *at = (int *)(gs + HP * WP);         /* where each one's maximum is in xp's rows */
        float *dw = (float *)(at + HP * WP);
        float *db = dw + CO * WROWS * 8;
        int team = omp_get_num_threads();        /* OpenMP may give fewer threads than asked */
        memset(dw, 0, sizeof(float) * SHARES);
        #pragma omp for schedule(static)
        for (int i = 0; i < n; i++) {
            NAME(load_image)(x + (long)i * CI * H * W, xp);
            if (dx) memset(dxp, 0, sizeof(float) * XBUF);
            for (int co = 0; co < CO; co++) {
                const float *gc = g + ((long)i * CO + co) * HP * WP;
                const int *ic = idx + ((long)i * CO + co) * HP * WP;
                const float *oc = RELU ? out + ((long)i * CO + co) * HP * WP : 0;
                int m = 0;
                float s = 0.0f;
                for (int p = 0; p < HP * WP; p++) {
                    float gv = RELU && oc[p] <= 0.0f ? 0.0f : gc[p];
                    gs[m] = gv;
                    at[m] = (ic[p] / WO) * XWV + ic[p] % WO;
                    s += gv;
                    m += gv != 0.0f;
                }
                db[co] += s;
                for (int c = 0; c < CI; c++)
                    for (int ky = 0; ky < KH; ky++) {
                        const float *rows = xp + (c * XH + ky) * XWV;
                        v8 a0 = {0}, a1 = {0};
                        int k = 0;
                        for (; k + 1 < m; k += 2) {
                            a0 += gs[k] * ld(rows + at[k]);
                            a1 += gs[k + 1] * ld(rows + at[k + 1]);
                        }
                        if (k < m) a0 += gs[k] * ld(rows + at[k]);
                        float *d = dw + ((co * CI + c) * KH + ky) * 8;
                        st(d, ld(d) + a0 + a1);
                    }
                if (!dx) continue;
                /* Kernel rows padded to 8 with zeros: the lanes past KW add 0 (an infinite
                   gradient would add NaN there, but such a loss has already diverged and the
                   trainer ends that run). */
                v8 wrow[WROWS];
                for (int r = 0; r < WROWS; r++) {
                    float t[8] = {0};
                    for (int kx = 0; kx < KW; kx++) t[kx] = w[(co * WROWS + r) * KW + kx];
                    wrow[r] = ld(t);
                }
                for (int k = 0; k < m; k++)
                    for (int c = 0; c < CI; c++)
                        for (int ky = 0; ky < KH; ky++) {
                            float *d = dxp + (c * XH + ky) * XWV + at[k];
                            st(d, ld(d) + gs[k] * wrow[c * KH + ky]);
                        }
            }
            if (dx) {
                float *di = dx + (long)i * CI * H * W;
                for (int c = 0; c < CI; c++)
                    for (int r = 0; r < H; r++)
                        memcpy(di + (c * H + r) * W, dxp + (c * XH + r + PH) * XWV + PW, sizeof(float) * W);
            }
        }
        /* The threads' shares added up, in thread order, each weight by one thread. */
        #pragma omp for schedule(static)
        for (int k = 0; k < CO * WROWS * KW + CO; k++) {
            int bias = k >= CO * WROWS * KW;
            long from = bias ? CO * WROWS * 8 + (k - CO * WROWS * KW) : (long)(k / KW) * 8 + k % KW;
            float sum = 0.0f;
            for (int t = 0; t < team; t++) sum += scratch[t * BWD_THREAD + 2L * XBUF + 2L * HP * WP + from];
            if (!bias) dw_out[k] = sum;
            else if (db_out) db_out[k - CO * WROWS * KW] = sum;
        }
    }
}

#undef XH
#undef NV
#undef WOV
#undef XWV
#undef HPK
#undef XBUF
#undef WROWS
#undef ROUND16
#undef FWD_THREAD
#undef SHARES
#undef BWD_THREAD
