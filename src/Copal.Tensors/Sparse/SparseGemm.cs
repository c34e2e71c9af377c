using System.Numerics;
using Copal.Tensors.Kernels;

namespace Copal.Tensors.Sparse;

/// <summary>
/// Prefill for a compressed weight: the blocked GEMM of <see cref="Gemm"/> with its weight slivers packed straight
/// from the compressed rows. Packing already turns every weight into f32 once per call, so expanding a sparse row
/// there costs about what widening a dense BF16 row does, and the register tile then runs at dense speed; the
/// earlier row-at-a-time kernel re-read all of X for every weight row and ran at 0.4–0.9× dense.
/// </summary>
/// <remarks>
/// Loop order differs from the dense GEMM: a block of <see cref="Gemm.NC"/> weight rows is outermost and walks its
/// rows' masks and values left to right, slab by slab, so each row's value cursor only moves forward (an
/// unstructured row has no cheap way to find the value at column pc). X is therefore packed whole, once per pass
/// of up to <see cref="RowsPerPass"/> input rows.
/// </remarks>
internal static unsafe class SparseGemm
{
    /// <summary>
    /// Input rows per pass: X is packed whole for a pass, so long prompts go through in passes of this many rows
    /// (a multiple of the register tile's 12) to bound that buffer: 192 × 11008 columns is 8.5 MB per thread.
    /// </summary>
    internal const int RowsPerPass = 16 * GemmMicroKernel.MR;

    /// <summary>y[i, j] = Σ_c x[i, c] · W[j, c] for i &lt; n and j in [outStart, outEnd); other columns of y untouched.</summary>
    public static void Run<T>(float* x, int n, SparseMatrix m, int outStart, int outEnd, float* y)
        where T : IValueExpand
    {
        for (int i0 = 0; i0 < n; i0 += RowsPerPass)
        {
            RunPass<T>(x + (nint)i0 * m.Cols, Math.Min(RowsPerPass, n - i0), m, outStart, outEnd, y + (nint)i0 * m.Rows);
        }
    }

    private static void RunPass<T>(float* x, int n, SparseMatrix m, int outStart, int outEnd, float* y)
        where T : IValueExpand
    {
        const int MR = GemmMicroKernel.MR, KC = Gemm.KC, NC = Gemm.NC;
        int k = m.Cols;
        nint ldy = m.Rows;
        for (int i = 0; i < n; i++)
        {
            new Span<float>(y + i * ldy + outStart, outEnd - outStart).Clear();
        }
        int aSlivers = (n + MR - 1) / MR;
        int slabs = (k + KC - 1) / KC;
        long slabFloats = (long)aSlivers * MR * KC;
        float* packA = PackScratch.X(slabFloats * slabs + Gemm.PackXOverrun);
        for (int s = 0; s < slabs; s++)
        {
            Gemm.PackX(x, n, k, s * KC, Math.Min(KC, k - s * KC), packA + s * slabFloats);
        }
        float* packB = PackScratch.Weight((long)NC * KC);
        float* tile = PackScratch.Tile();
        int maskStride = m.MaskStride;
        byte* maskScratch = PackScratch.Bytes((long)NC * maskStride);
        byte** masks = stackalloc byte*[NC];
        byte** cursors = stackalloc byte*[NC];
        byte* valuesEnd = m.ValuesEnd;
        for (int jc = outStart; jc < outEnd; jc += NC)
        {
            int nc = Math.Min(NC, outEnd - jc);
            for (int j = 0; j < nc; j++)
            {
                masks[j] = m.RowMask(jc + j, maskScratch + (nint)j * maskStride);
                cursors[j] = m.RowValues(jc + j, out _);
            }
            for (int s = 0; s < slabs; s++)
            {
                int pc = s * KC, kc = Math.Min(KC, k - pc);
                PackSlab<T>(masks, cursors, nc, pc, kc, valuesEnd, packB);
                Gemm.MultiplyBlock(packA + s * slabFloats, n, packB, nc, kc, y + jc, ldy, tile);
            }
        }
    }

    /// <summary>
    /// Columns [pc, pc + kc) of the block's rows, expanded to f32, into slivers [kc][NR] (rows past nc zero);
    /// advances every row's value cursor past the values it used. pc is a multiple of 8, so slabs start on mask bytes.
    /// </summary>
    private static void PackSlab<T>(byte** masks, byte** cursors, int nc, int pc, int kc, byte* valuesEnd, float* packB)
        where T : IValueExpand
    {
        for (int j0 = 0; j0 < Gemm.PackedRows(nc); j0 += 8)
        {
            // Eight rows at a time: their 8-column chunks expand into registers and go out transposed.
            float* group = Gemm.PackedRow(packB, j0, kc);
            int live = Math.Clamp(nc - j0, 0, 8);
            int q = 0;
            if (live == 8 && SparseRowKernels.Vectorized && Transpose8x8.IsSupported)
            {
                q = PackGroupVectorized<T>(masks + j0, cursors + j0, pc, kc, valuesEnd, group);
            }
            PackGroupScalar<T>(masks + j0, cursors + j0, live, pc, q, kc, group);
        }
    }

    /// <summary>
    /// Full 8-column chunks of eight live rows, from chunk 0 until one would read past the value buffer (the vector
    /// expand loads 32 bytes); returns the first chunk not packed.
    /// </summary>
    private static int PackGroupVectorized<T>(byte** masks, byte** cursors, int pc, int kc, byte* valuesEnd, float* group)
        where T : IValueExpand
    {
        const int NR = GemmMicroKernel.NR;
        byte* m0 = masks[0] + (pc >> 3), m1 = masks[1] + (pc >> 3), m2 = masks[2] + (pc >> 3), m3 = masks[3] + (pc >> 3);
        byte* m4 = masks[4] + (pc >> 3), m5 = masks[5] + (pc >> 3), m6 = masks[6] + (pc >> 3), m7 = masks[7] + (pc >> 3);
        byte* v0 = cursors[0], v1 = cursors[1], v2 = cursors[2], v3 = cursors[3];
        byte* v4 = cursors[4], v5 = cursors[5], v6 = cursors[6], v7 = cursors[7];
        int size = T.Size, full = kc >> 3, q = 0;
        // A cursor moves at most 8 values per chunk, so none passes the farthest one plus that after q chunks.
        byte* far = Max(Max(Max(v0, v1), Max(v2, v3)), Max(Max(v4, v5), Max(v6, v7)));
        for (; q < full && far + (nint)q * 8 * size + 32 <= valuesEnd; q++)
        {
            uint b0 = m0[q], b1 = m1[q], b2 = m2[q], b3 = m3[q], b4 = m4[q], b5 = m5[q], b6 = m6[q], b7 = m7[q];
            Transpose8x8.Store(
                T.Expand(v0, b0), T.Expand(v1, b1), T.Expand(v2, b2), T.Expand(v3, b3),
                T.Expand(v4, b4), T.Expand(v5, b5), T.Expand(v6, b6), T.Expand(v7, b7),
                group + (nint)(q << 3) * NR, NR);
            v0 += BitOperations.PopCount(b0) * size;
            v1 += BitOperations.PopCount(b1) * size;
            v2 += BitOperations.PopCount(b2) * size;
            v3 += BitOperations.PopCount(b3) * size;
            v4 += BitOperations.PopCount(b4) * size;
            v5 += BitOperations.PopCount(b5) * size;
            v6 += BitOperations.PopCount(b6) * size;
            v7 += BitOperations.PopCount(b7) * size;
        }
        cursors[0] = v0; cursors[1] = v1; cursors[2] = v2; cursors[3] = v3;
        cursors[4] = v4; cursors[5] = v5; cursors[6] = v6; cursors[7] = v7;
        return q;
    }

    private static byte* Max(byte* a, byte* b) => a > b ? a : b;

    /// <summary>Chunks [firstChunk, ⌈kc/8⌉) of eight rows lane by lane; rows from <paramref name="live"/> on are zero.</summary>
    private static void PackGroupScalar<T>(byte** masks, byte** cursors, int live, int pc, int firstChunk, int kc, float* group)
        where T : IValueExpand
    {
        const int NR = GemmMicroKernel.NR;
        for (int i = 0; i < 8; i++)
        {
            float* column = group + i;
            if (i >= live)
            {
                for (int kk = firstChunk << 3; kk < kc; kk++)
                {
                    column[kk * NR] = 0f;
                }
                continue;
            }
            byte* mask = masks[i] + (pc >> 3);
            byte* v = cursors[i];
            for (int kk = firstChunk << 3; kk < kc; kk++)
            {
                bool kept = (mask[kk >> 3] >> (kk & 7) & 1) != 0;
                column[kk * NR] = kept ? T.Scalar(v, 0) : 0f;
                v += kept ? T.Size : 0;
            }
            cursors[i] = v;
        }
    }
}
