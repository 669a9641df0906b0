// conv2d on the GPU: im2col / col2im for the GEMM path (the GEMM itself is cuBLAS, called from
// conv.py), the direct path as shared-memory tiled implicit GEMMs, and the bias gradient.
//
// Shapes: x (N, C, H, W), w (O, cg, kh, kw) with cg = C/groups, y (N, O, OH, OW), L = OH*OW.
// For image n and group g, the column matrix has K = cg*kh*kw rows k = (c, i, j) and L columns
// l = (oh, ow); entry (k, l) is x[n, g*cg + c, oh*sh - ph + i*dh, ow*sw - pw + j*dw], 0 in the
// padding. Every kernel takes the geometry in the same order:
//   N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW
#include "common.cuh"

// ---- im2col / col2im -----------------------------------------------------------------------

// cols[n*col_stride_n + r*col_stride_r + l] = column entry r = (c, i, j) over all C channels.
// (C*kh*kw*L, L) gives the contract's (N, C*kh*kw, L); (L, N*L) gives (C*kh*kw, N*L), the
// layout in which the weight gradient is one GEMM over the batch.
// One thread per (n, c, oh, ow) writes that position's kh*kw taps, so the flat index is split
// into coordinates once per kh*kw outputs; neighbouring threads write neighbouring l.
template <typename T>
__global__ void im2col(const T* __restrict__ x, T* __restrict__ cols,
                       long long N, long long C, long long H, long long W,
                       long long kh, long long kw, long long sh, long long sw,
                       long long ph, long long pw, long long dh, long long dw,
                       long long OH, long long OW, long long col_stride_n, long long col_stride_r)
{
    const long long L = OH * OW;
    for (long long idx = thread_index(); idx < N * C * L; idx += grid_stride()) {
        const long long nc = idx / L;
        const int l = (int)(idx - nc * L);
        const long long n = nc / C, c = nc - n * C;
        const int oh = l / (int)OW, ow = l - oh * (int)OW;
        const T* plane = x + nc * H * W;
        T* out = cols + n * col_stride_n + c * kh * kw * col_stride_r + l;
        for (long long i = 0; i < kh; ++i) {
            const long long h = oh * sh - ph + i * dh;
            for (long long j = 0; j < kw; ++j) {
                const long long w = ow * sw - pw + j * dw;
                const bool inside = h >= 0 && h < H && w >= 0 && w < W;
                out[(i * kw + j) * col_stride_r] = inside ? plane[h * W + w] : T(0);
            }
        }
    }
}

// The adjoint of im2col, as a gather: one thread per input element adds up the column entries
// that were read from it. No atomics, and the taps come in (i, j) order, as in the reference.
template <typename T>
__global__ void col2im(const T* __restrict__ cols, T* __restrict__ x,
                       long long N, long long C, long long H, long long W,
                       long long kh, long long kw, long long sh, long long sw,
                       long long ph, long long pw, long long dh, long long dw,
                       long long OH, long long OW)
{
    const long long HW = H * W, L = OH * OW;
    for (long long idx = thread_index(); idx < N * C * HW; idx += grid_stride()) {
        const long long nc = idx / HW;
        const int p = (int)(idx - nc * HW);
        const int h = p / (int)W, w = p - h * (int)W;
        const T* col = cols + nc * kh * kw * L;  // rows (c, i, j) of image n start at (n*C + c)*kh*kw
        T sum = 0;
        for (int i = 0; i < kh; ++i) {
            // tap i of output row oh reads row h exactly when oh*sh == h + ph - i*dh
            const int hs = h + (int)ph - i * (int)dh;
            if (hs < 0)
                break;  // hs only decreases with i
            if (hs % (int)sh != 0 || hs / (int)sh >= OH)
                continue;
            const int oh = hs / (int)sh;
            for (int j = 0; j < kw; ++j) {
                const int ws = w + (int)pw - j * (int)dw;
                if (ws < 0)
                    break;
                if (ws % (int)sw != 0 || ws / (int)sw >= OW)
                    continue;
                sum += col[(i * kw + j) * L + oh * OW + ws / (int)sw];
            }
        }
        x[idx] = sum;
    }
}

// ---- direct convolution: implicit GEMMs in TILE x TILE shared-memory tiles --------------------
// Each block computes a TILE x TILE tile of one GEMM output. Step by step along the reduction
// axis, the block stages a TILE-wide slice of both operands in shared memory (every thread loads
// one element of each) and every thread then runs TILE multiply-adds from there. The column
// matrix is never stored: its entries are gathered from x (or gy) as the tiles are loaded.

enum { TILE = 16 };  // the launcher runs (TILE, TILE) thread blocks

// Column entry (k, l) of one image and group; xg points at the group's first input channel.
template <typename T>
__device__ __forceinline__ T column_entry(const T* xg, long long k, long long l,
                                          long long H, long long W, long long kh, long long kw,
                                          long long sh, long long sw, long long ph, long long pw,
                                          long long dh, long long dw, long long OW)
{
    const int taps = (int)(kh * kw);
    const int c = (int)k / taps, t = (int)k - c * taps;
    const int i = t / (int)kw, j = t - i * (int)kw;
    const int oh = (int)l / (int)OW, ow = (int)l - oh * (int)OW;
    const long long h = oh * sh - ph + i * dh, w = ow * sw - pw + j * dw;
    return (h >= 0 && h < H && w >= 0 && w < W) ? xg[(c * H + h) * W + w] : T(0);
}

// y[n, g*Og + o, l] = sum_k w[g*Og + o, k] * column(n, g)[k, l].
// Block (x: l tile, y: o tile); blockIdx.z walks the (n, g) pairs.
template <typename T>
__global__ void conv2d_forward_direct(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y,
                                      long long N, long long C, long long H, long long W,
                                      long long kh, long long kw, long long sh, long long sw,
                                      long long ph, long long pw, long long dh, long long dw,
                                      long long OH, long long OW, long long O, long long groups)
{
    __shared__ T w_tile[TILE][TILE];    // [o][k]
    __shared__ T col_tile[TILE][TILE];  // [k][l]
    const long long cg = C / groups, Og = O / groups, K = cg * kh * kw, L = OH * OW;
    const int tx = threadIdx.x, ty = threadIdx.y;
    const long long l = (long long)blockIdx.x * TILE + tx;
    const long long o = (long long)blockIdx.y * TILE + ty;
    // z depends on the block only, so every thread of the block runs the same iterations and
    // reaches the same __syncthreads().
    for (long long z = blockIdx.z; z < N * groups; z += gridDim.z) {
        const long long n = z / groups, g = z - n * groups;
        const T* xg = x + (n * C + g * cg) * H * W;
        const T* wg = w + g * Og * K;
        T acc = 0;
        for (long long k0 = 0; k0 < K; k0 += TILE) {
            w_tile[ty][tx] = (o < Og && k0 + tx < K) ? wg[o * K + k0 + tx] : T(0);
            col_tile[ty][tx] = (k0 + ty < K && l < L)
                ? column_entry(xg, k0 + ty, l, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OW) : T(0);
            __syncthreads();
            for (int kk = 0; kk < TILE; ++kk)
                acc += w_tile[ty][kk] * col_tile[kk][tx];
            __syncthreads();
        }
        if (o < Og && l < L)
            y[(n * O + g * Og + o) * L + l] = acc;
    }
}

// gy entry that tap t = (o, i, j) sends to input pixel p = (h, w), or 0 when no output reaches
// p through that tap; gyg points at the group's first output channel of image n.
template <typename T>
__device__ __forceinline__ T output_grad_entry(const T* gyg, long long t, long long p,
                                               long long W, long long kh, long long kw,
                                               long long sh, long long sw, long long ph, long long pw,
                                               long long dh, long long dw, long long OH, long long OW)
{
    const int taps = (int)(kh * kw);
    const int o = (int)t / taps, r = (int)t - o * taps;
    const int i = r / (int)kw, j = r - i * (int)kw;
    const int h = (int)p / (int)W, w = (int)p - h * (int)W;
    const int hs = h + (int)ph - i * (int)dh, ws = w + (int)pw - j * (int)dw;  // oh*sh, ow*sw
    if (hs < 0 || ws < 0 || hs % (int)sh != 0 || ws % (int)sw != 0)
        return T(0);
    const int oh = hs / (int)sh, ow = ws / (int)sw;
    return (oh < OH && ow < OW) ? gyg[((long long)o * OH + oh) * OW + ow] : T(0);
}

// gx[n, g*cg + c, p] = sum_t w[g*Og + o, c, i, j] * gy entry (t, p), t = (o, i, j) over the
// group's Og*kh*kw taps: col2im(W^T gy) without the columns. Block (x: p tile, y: c tile).
template <typename T>
__global__ void conv2d_grad_input_direct(const T* __restrict__ gy, const T* __restrict__ w, T* __restrict__ gx,
                                         long long N, long long C, long long H, long long W,
                                         long long kh, long long kw, long long sh, long long sw,
                                         long long ph, long long pw, long long dh, long long dw,
                                         long long OH, long long OW, long long O, long long groups)
{
    __shared__ T w_tile[TILE][TILE];  // [c][t]
    __shared__ T g_tile[TILE][TILE];  // [t][p]
    const long long cg = C / groups, Og = O / groups, taps = kh * kw, Tn = Og * taps, HW = H * W;
    const int tx = threadIdx.x, ty = threadIdx.y;
    const long long p = (long long)blockIdx.x * TILE + tx;
    const long long c = (long long)blockIdx.y * TILE + ty;
    for (long long z = blockIdx.z; z < N * groups; z += gridDim.z) {
        const long long n = z / groups, g = z - n * groups;
        const T* gyg = gy + (n * O + g * Og) * OH * OW;
        const T* wg = w + g * Og * cg * taps;
        T acc = 0;
        for (long long t0 = 0; t0 < Tn; t0 += TILE) {
            const long long t = t0 + tx;
            if (c < cg && t < Tn) {
                const long long o = t / taps;
                w_tile[ty][tx] = wg[(o * cg + c) * taps + (t - o * taps)];
            } else {
                w_tile[ty][tx] = T(0);
            }
            g_tile[ty][tx] = (t0 + ty < Tn && p < HW)
                ? output_grad_entry(gyg, t0 + ty, p, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW) : T(0);
            __syncthreads();
            for (int tt = 0; tt < TILE; ++tt)
                acc += w_tile[ty][tt] * g_tile[tt][tx];
            __syncthreads();
        }
        if (c < cg && p < HW)
            gx[(n * C + g * cg + c) * HW + p] = acc;
    }
}

// gw[g*Og + o, k] = sum over (n, l) of gy[n, g*Og + o, l] * column(n, g)[k, l]. The reduction
// runs over N*L, far longer than the output is wide, so it is cut into `splits` contiguous
// pieces of (n, l-tile) steps, each written to its own slice of gw_parts (splits, O, K); the
// launcher sums the slices. Block (x: k tile, y: o tile); blockIdx.z walks (g, split).
template <typename T>
__global__ void conv2d_grad_weight_direct(const T* __restrict__ gy, const T* __restrict__ x, T* __restrict__ gw_parts,
                                          long long N, long long C, long long H, long long W,
                                          long long kh, long long kw, long long sh, long long sw,
                                          long long ph, long long pw, long long dh, long long dw,
                                          long long OH, long long OW, long long O, long long groups,
                                          long long splits)
{
    __shared__ T g_tile[TILE][TILE];        // [o][l]
    __shared__ T col_tile[TILE][TILE + 1];  // [k][l]; +1: read along k below, keeps banks apart
    const long long cg = C / groups, Og = O / groups, K = cg * kh * kw, L = OH * OW;
    const long long l_tiles = (L + TILE - 1) / TILE, steps = N * l_tiles;
    const long long per_split = (steps + splits - 1) / splits;
    const int tx = threadIdx.x, ty = threadIdx.y;
    const long long k_base = (long long)blockIdx.x * TILE;
    const long long k = k_base + tx;
    const long long o = (long long)blockIdx.y * TILE + ty;
    for (long long z = blockIdx.z; z < groups * splits; z += gridDim.z) {
        const long long g = z / splits, s = z - g * splits;
        const long long first = s * per_split;
        const long long last = first + per_split < steps ? first + per_split : steps;
        T acc = 0;
        for (long long step = first; step < last; ++step) {
            const long long n = step / l_tiles, l0 = (step - n * l_tiles) * TILE;
            const T* gyg = gy + (n * O + g * Og) * L;
            const T* xg = x + (n * C + g * cg) * H * W;
            g_tile[ty][tx] = (o < Og && l0 + tx < L) ? gyg[o * L + l0 + tx] : T(0);
            col_tile[ty][tx] = (k_base + ty < K && l0 + tx < L)
                ? column_entry(xg, k_base + ty, l0 + tx, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OW) : T(0);
            __syncthreads();
            for (int ll = 0; ll < TILE; ++ll)
                acc += g_tile[ty][ll] * col_tile[tx][ll];
            __syncthreads();
        }
        if (o < Og && k < K)
            gw_parts[(s * O + g * Og + o) * K + k] = acc;
    }
}

// ---- bias gradient -------------------------------------------------------------------------

// gb[o] = sum over n and l of gy[n, o, l]: one block per channel, a fixed-shape tree at the end.
template <typename T>
__global__ void conv2d_bias_grad(const T* __restrict__ gy, T* __restrict__ gb,
                                 long long N, long long O, long long L)
{
    __shared__ T buf[REDUCE_THREADS];
    for (long long o = blockIdx.x; o < O; o += gridDim.x) {
        T sum = 0;
        for (long long m = threadIdx.x; m < N * L; m += blockDim.x) {
            const long long n = m / L;
            sum += gy[(n * O + o) * L + (m - n * L)];
        }
        sum = block_reduce(sum, buf, SumOp());
        if (threadIdx.x == 0)
            gb[o] = sum;
    }
}
