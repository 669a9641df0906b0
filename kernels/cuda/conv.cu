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

// ---- direct convolution: implicit GEMMs in shared-memory tiles ---------------------------------
// Each block computes a tile of one GEMM output: TILE columns wide and `rows` = blockDim.y rows
// high, where the launcher sizes rows to the channel count (the next power of two, at most TILE),
// so 6 output channels run 8 thread rows, not 16 with 10 idle. Step by step along the reduction
// axis, the block stages a TILE-wide slice of both operands in shared memory and every thread
// then runs TILE multiply-adds from there. The column matrix is never stored: its entries are
// gathered from x (or gy) as the tiles are loaded, through tables the launcher builds once per
// geometry, so a load costs table reads instead of 4-6 integer divisions:
//   column table  (K, 3):  k = (c, i, j)  ->  c*H*W + i*dh*W + j*dw,  i*dh,  j*dw
//   position table (L, 2): l = (oh, ow)   ->  oh*sh - ph,  ow*sw - pw
// Column entry (k, l) is then x[c, hb + i*dh, wb + j*dw] with (hb, wb) the position of l.

enum { TILE = 16 };  // the launcher runs (TILE, rows) thread blocks, rows a power of two <= TILE

template <typename T>
__device__ __forceinline__ T column_entry(const T* xg, const long long* column, long long hb, long long wb,
                                          long long H, long long W)
{
    const long long h = hb + column[1], w = wb + column[2];
    return (h >= 0 && h < H && w >= 0 && w < W) ? xg[column[0] + hb * W + wb] : T(0);
}

// y[n, g*Og + o, l] = sum_k w[g*Og + o, k] * column(n, g)[k, l].
// Block (x: l tile, y: o rows); blockIdx.z walks the (n, g) pairs.
template <typename T>
__global__ void conv2d_forward_direct(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y,
                                      const long long* __restrict__ columns, const long long* __restrict__ positions,
                                      long long N, long long C, long long H, long long W,
                                      long long kh, long long kw, long long sh, long long sw,
                                      long long ph, long long pw, long long dh, long long dw,
                                      long long OH, long long OW, long long O, long long groups)
{
    __shared__ T w_tile[TILE][TILE];    // [o][k], rows used
    __shared__ T col_tile[TILE][TILE];  // [k][l]
    const long long cg = C / groups, Og = O / groups, K = cg * kh * kw, L = OH * OW;
    const int tx = threadIdx.x, ty = threadIdx.y, rows = blockDim.y;
    const long long l = (long long)blockIdx.x * TILE + tx;
    const long long o = (long long)blockIdx.y * rows + ty;
    const long long hb = l < L ? positions[2 * l] : 0, wb = l < L ? positions[2 * l + 1] : 0;
    // z depends on the block only, so every thread of the block runs the same iterations and
    // reaches the same __syncthreads().
    for (long long z = blockIdx.z; z < N * groups; z += gridDim.z) {
        const long long n = z / groups, g = z - n * groups;
        const T* xg = x + (n * C + g * cg) * H * W;
        const T* wg = w + g * Og * K;
        T acc = 0;
        for (long long k0 = 0; k0 < K; k0 += TILE) {
            w_tile[ty][tx] = (o < Og && k0 + tx < K) ? wg[o * K + k0 + tx] : T(0);
            for (int kk = ty; kk < TILE; kk += rows)
                col_tile[kk][tx] = (k0 + kk < K && l < L)
                    ? column_entry(xg, columns + 3 * (k0 + kk), hb, wb, H, W) : T(0);
            __syncthreads();
            for (int kk = 0; kk < TILE; ++kk)
                acc += w_tile[ty][kk] * col_tile[kk][tx];
            __syncthreads();
        }
        if (o < Og && l < L)
            y[(n * O + g * Og + o) * L + l] = acc;
    }
}

// gx = col2im(W^T gy) without the columns, split by stride phase. Input row h receives from
// kernel row i only when h + ph - i*dh is a multiple of sh, so the rows h with (h + ph) % sh == rh
// take gradient only from the taps i with i*dh % sh == rh, and likewise for columns. Every
// (rh, rw) phase is one GEMM over just its own taps: together the phases do 1/(sh*sw) of the
// multiply-adds of one GEMM over all taps (1/16 at stride 4), none of them on a structural zero.
// The launcher's tables, per phase p = rh*sw + rw:
//   phases (sh*sw, 6): first row h0, row count, first column w0, column count, first entry, entries
//   taps (Og*kh*kw, 4), the phase's entries t = (o, i, j) in order:
//       w offset (o*cg)*kh*kw + i*kw + j,  gy offset o*OH*OW,  oh - a,  ow - b
// where pixel (a, b) of the phase is input (h0 + a*sh, w0 + b*sw) and reads gy[o, oh, ow].
// Block (x: pixel tile of a phase, y: c rows); blockIdx.z walks (n, g, phase).
template <typename T>
__global__ void conv2d_grad_input_direct(const T* __restrict__ gy, const T* __restrict__ w, T* __restrict__ gx,
                                         const long long* __restrict__ phases, const long long* __restrict__ taps,
                                         long long N, long long C, long long H, long long W,
                                         long long kh, long long kw, long long sh, long long sw,
                                         long long ph, long long pw, long long dh, long long dw,
                                         long long OH, long long OW, long long O, long long groups)
{
    __shared__ T w_tile[TILE][TILE];  // [c][t], rows used
    __shared__ T g_tile[TILE][TILE];  // [t][p]
    const long long cg = C / groups, Og = O / groups, n_phases = sh * sw;
    const int tx = threadIdx.x, ty = threadIdx.y, rows = blockDim.y;
    const long long p = (long long)blockIdx.x * TILE + tx;
    const long long c = (long long)blockIdx.y * rows + ty;
    for (long long z = blockIdx.z; z < N * groups * n_phases; z += gridDim.z) {
        const long long ng = z / n_phases, phase = z - ng * n_phases;
        const long long n = ng / groups, g = ng - n * groups;
        const long long* head = phases + 6 * phase;
        const long long h0 = head[0], w0 = head[2], cols = head[3], P = head[1] * cols, Tn = head[5];
        const long long* tab = taps + 4 * head[4];
        const long long a = p < P ? p / cols : 0, b = p < P ? p - a * cols : 0;  // once per phase
        const T* gyg = gy + (n * O + g * Og) * OH * OW;
        const T* wg = w + g * Og * cg * kh * kw;
        T acc = 0;
        for (long long t0 = 0; t0 < Tn; t0 += TILE) {
            w_tile[ty][tx] = (c < cg && t0 + tx < Tn) ? wg[tab[4 * (t0 + tx)] + c * kh * kw] : T(0);
            for (int tt = ty; tt < TILE; tt += rows) {
                T v = T(0);
                if (t0 + tt < Tn && p < P) {
                    const long long* e = tab + 4 * (t0 + tt);
                    const long long oh = a + e[2], ow = b + e[3];
                    if (oh >= 0 && oh < OH && ow >= 0 && ow < OW)
                        v = gyg[e[1] + oh * OW + ow];
                }
                g_tile[tt][tx] = v;
            }
            __syncthreads();
            for (int tt = 0; tt < TILE; ++tt)
                acc += w_tile[ty][tt] * g_tile[tt][tx];
            __syncthreads();
        }
        if (c < cg && p < P)
            gx[(n * C + g * cg + c) * H * W + (h0 + a * sh) * W + w0 + b * sw] = acc;
    }
}

// gw[g*Og + o, k] = sum over (n, l) of gy[n, g*Og + o, l] * column(n, g)[k, l]. The reduction
// runs over N*L, far longer than the output is wide, so it is cut into `splits` contiguous
// pieces of (n, l-tile) steps, each written to its own slice of gw_parts (splits, O, K); the
// launcher sums the slices. Block (x: k tile, y: o rows); blockIdx.z walks (g, split).
template <typename T>
__global__ void conv2d_grad_weight_direct(const T* __restrict__ gy, const T* __restrict__ x, T* __restrict__ gw_parts,
                                          const long long* __restrict__ columns, const long long* __restrict__ positions,
                                          long long N, long long C, long long H, long long W,
                                          long long kh, long long kw, long long sh, long long sw,
                                          long long ph, long long pw, long long dh, long long dw,
                                          long long OH, long long OW, long long O, long long groups,
                                          long long splits)
{
    __shared__ T g_tile[TILE][TILE];        // [o][l], rows used
    __shared__ T col_tile[TILE][TILE + 1];  // [k][l]; +1: read along k below, keeps banks apart
    const long long cg = C / groups, Og = O / groups, K = cg * kh * kw, L = OH * OW;
    const long long l_tiles = (L + TILE - 1) / TILE, steps = N * l_tiles;
    const long long per_split = (steps + splits - 1) / splits;
    const int tx = threadIdx.x, ty = threadIdx.y, rows = blockDim.y;
    const long long k_base = (long long)blockIdx.x * TILE;
    const long long k = k_base + tx;
    const long long o = (long long)blockIdx.y * rows + ty;
    for (long long z = blockIdx.z; z < groups * splits; z += gridDim.z) {
        const long long g = z / splits, s = z - g * splits;
        const long long first = s * per_split;
        const long long last = first + per_split < steps ? first + per_split : steps;
        T acc = 0;
        for (long long step = first; step < last; ++step) {
            const long long n = step / l_tiles, l0 = (step - n * l_tiles) * TILE;
            const T* gyg = gy + (n * O + g * Og) * L;
            const T* xg = x + (n * C + g * cg) * H * W;
            const long long l = l0 + tx;
            g_tile[ty][tx] = (o < Og && l < L) ? gyg[o * L + l] : T(0);
            const long long hb = l < L ? positions[2 * l] : 0, wb = l < L ? positions[2 * l + 1] : 0;
            for (int kk = ty; kk < TILE; kk += rows)
                col_tile[kk][tx] = (k_base + kk < K && l < L)
                    ? column_entry(xg, columns + 3 * (k_base + kk), hb, wb, H, W) : T(0);
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
