/* A 2-d convolution followed by a max pool, forward and backward, for one geometry.

   The includer defines the geometry as constants and NAME(f) as a unique prefix, then
   includes this file once per geometry (cnn_tui/core/convpool.py writes that unit and
   compiles it). Constants: CI, CO channels in and out; H, W the input plane; KH, KW the
   kernel (KW <= 8); PH, PW zero padding; WO the convolution's output width; HP, WP the
   pooled plane; PKH, PKW the pool window, equal to its stride; CB output channels computed
   together. The convolution's stride is 1.

   The forward pass keeps, for every pooled value, where its maximum was in the convolution's
   plane (y * WO + x, as torch's max pool records it: the first maximum in row order, or a NaN).
   The backward pass then needs the convolution only at those places: the pool passes each
   gradient to one of its PKH x PKW values, so the weight and input gradients are sums over
   the pooled values alone, a quarter of the work of a dense backward behind a 2 x 2 pool,
   and less again where a ReLU after the pool zeroed the gradient.

   Rows are computed 8 floats at a time with GCC's vector extension; the per-thread buffers
   are padded so that every 8-float load and store stays inside them. */

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
#define XWV (WOV + KW + 8)         /* padded input row: room for every vector load */
#define HPK (HP * PKH)             /* output rows that some pool window reads */
#define XBUF (CI * XH * XWV)       /* floats in one padded input image */
#define WROWS (CI * KH)            /* kernel rows of one output channel */

/* The floats of scratch each thread needs, for the caller to allocate. */
long NAME(fwd_scratch)(void) { return XBUF + (long)CO * HPK * WOV; }
long NAME(bwd_scratch)(void) { return 2L * XBUF + (long)CO * WROWS * 8 + CO; }

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
        float *xp = scratch + omp_get_thread_num() * NAME(fwd_scratch)();
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
                        o[py * WP + px] = m;
                        ix[py * WP + px] = at;
                    }
            }
        }
    }
}

/* g: the pooled output's gradient, n×CO×HP×WP; dx: n×CI×H×W, or NULL when the input needs
   none. Each thread leaves its share of the weight gradient (CO×CI×KH rows of 8, the first
   KW used) and of the bias gradient (CO) at the end of its scratch, for the caller to add. */
void NAME(bwd)(int n, int threads, const float *x, const float *w, const float *g, const int *idx,
               float *dx, float *scratch)
{
    #pragma omp parallel num_threads(threads)
    {
        float *xp = scratch + omp_get_thread_num() * NAME(bwd_scratch)();
        float *dxp = xp + XBUF;
        float *dw = dxp + XBUF;
        float *db = dw + CO * WROWS * 8;
        memset(dw, 0, sizeof(float) * (CO * WROWS * 8 + CO));
        #pragma omp for schedule(static)
        for (int i = 0; i < n; i++) {
            NAME(load_image)(x + (long)i * CI * H * W, xp);
            if (dx) memset(dxp, 0, sizeof(float) * XBUF);
            for (int co = 0; co < CO; co++) {
                const float *gc = g + ((long)i * CO + co) * HP * WP;
                const int *ic = idx + ((long)i * CO + co) * HP * WP;
                v8 dwr[WROWS], wrow[WROWS];
                for (int r = 0; r < WROWS; r++) {
                    dwr[r] = ld(dw + (co * WROWS + r) * 8);
                    float t[8] = {0};
                    for (int kx = 0; kx < KW; kx++) t[kx] = w[(co * WROWS + r) * KW + kx];
                    wrow[r] = ld(t);
                }
                float s = 0.0f;
                for (int p = 0; p < HP * WP; p++) {
                    float gv = gc[p];
                    if (gv == 0.0f) continue;
                    s += gv;
                    int y = ic[p] / WO, q = ic[p] % WO;
                    for (int r = 0; r < WROWS; r++) {
                        int at = ((r / KH) * XH + y + r % KH) * XWV + q;
                        dwr[r] += gv * ld(xp + at);
                        if (dx) st(dxp + at, ld(dxp + at) + gv * wrow[r]);
                    }
                }
                for (int r = 0; r < WROWS; r++) st(dw + (co * WROWS + r) * 8, dwr[r]);
                db[co] += s;
            }
            if (dx) {
                float *di = dx + (long)i * CI * H * W;
                for (int c = 0; c < CI; c++)
                    for (int r = 0; r < H; r++)
                        memcpy(di + (c * H + r) * W, dxp + (c * XH + r + PH) * XWV + PW, sizeof(float) * W);
            }
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
