using System.Buffers;
using Copal.Tensors.Kernels;

namespace Copal.Tensors.Sparse;

/// <summary>
/// y[rows, out] = x[rows, in] · Wᵀ for a compressed W [out, in]. Work is split over output features: each thread
/// takes one contiguous range from <see cref="RowPartition"/> (whole register tiles when several rows go through the GEMM) on the kernels' worker pool, so <see cref="RunRange(ReadOnlySpan{float}, CpuSparseWeight, Span{float}, int, int, int)"/> on the whole range is the
/// single-threaded kernel. One input row (decode) streams each weight row once and expands it in registers;
/// several rows (prefill) go through <see cref="SparseGemm"/>, the dense blocked GEMM fed from compressed rows.
/// </summary>
internal static unsafe class SparseMatMul
{
    /// <summary>Computes y = x · Wᵀ on up to <paramref name="threads"/> threads.</summary>
    /// <param name="x">Input [rows, w.Cols], row-major f32.</param>
    /// <param name="w">The compressed weight [out, in].</param>
    /// <param name="y">Output [rows, w.Rows], row-major f32; fully overwritten.</param>
    /// <param name="rows">Input rows (tokens).</param>
    /// <param name="threads">Threads to use; 1 runs on the caller's thread.</param>
    public static void Run(ReadOnlySpan<float> x, CpuSparseWeight w, Span<float> y, int rows, int threads)
    {
        Check(x, w, y, rows);
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        // Ranges go to the kernels' persistent worker pool: a decode step makes ~150 of these calls, and waking
        // thread-pool workers through Parallel.For per call measured a visible share of a token's time.
        // Several input rows go through the GEMM, whose full register tiles add each slab onto y and whose edge tiles
        // add a slab's own sum to it: ranges cut at tile boundaries keep every output's sum the same on any number of
        // threads (cut at multiples of 4, three threads changed the bits of a 128-token perplexity).
        int align = rows > 1 ? GemmMicroKernel.NR : 4;
        long macsPerRow = Math.Max(1L, (long)rows * w.Cols);
        int minRows = (int)Math.Clamp(MatMul.MinMacsPerThread / macsPerRow, align, int.MaxValue);
        fixed (float* px = x)
        fixed (float* py = y)
        {
            RowPartition.For(w.Rows, threads, align, minRows, new RangeBody(px, x.Length, w, py, y.Length, rows));
        }
    }

    private readonly struct RangeBody(float* x, int xLength, CpuSparseWeight w, float* y, int yLength, int rows) : IRangeBody
    {
        public void Run(int start, int end)
            => RunRange(new ReadOnlySpan<float>(x, xLength), w, new Span<float>(y, yLength), rows, start, end);
    }

    /// <summary>Computes the output features [outStart, outEnd) of every input row on the caller's thread.</summary>
    public static void RunRange(ReadOnlySpan<float> x, CpuSparseWeight w, Span<float> y, int rows, int outStart, int outEnd)
        => RunRange(x, w, y, rows, outStart, outEnd, allowAvx512: true);

    /// <summary>As the public overload; <paramref name="allowAvx512"/> = false forces the AVX2 path so tests cover it on AVX-512 machines.</summary>
    internal static void RunRange(ReadOnlySpan<float> x, CpuSparseWeight w, Span<float> y, int rows, int outStart, int outEnd, bool allowAvx512)
    {
        Check(x, w, y, rows);
        if (outStart < 0 || outEnd > w.Rows || outStart > outEnd)
        {
            throw new ArgumentOutOfRangeException(nameof(outStart), $"range [{outStart}, {outEnd}) is outside the {w.Rows} outputs of '{w.Name}'");
        }
        SparseMatrix m = w.Matrix;
        if (rows == 1 && allowAvx512 && SparseGemv512.IsSupported && SparseGemv512Rows.Handles(m))
        {
            fixed (float* px = x)
            fixed (float* py = y)
            {
                SparseGemv512Rows.Run(px, m, py, outStart, outEnd);
            }
            return;
        }
        switch (m.DType)
        {
            case DType.BF16: Run<HalfExpand<Bf16Load>>(x, m, y, rows, outStart, outEnd); break;
            // As the dense F16 kernels: values checked finite skip the Inf/NaN handling.
            case DType.F16 when m.FiniteVerified: Run<HalfExpand<F16FiniteLoad>>(x, m, y, rows, outStart, outEnd); break;
            case DType.F16: Run<HalfExpand<F16Load>>(x, m, y, rows, outStart, outEnd); break;
            default: Run<F32Expand>(x, m, y, rows, outStart, outEnd); break;
        }
    }

    /// <summary>The AVX2 (or scalar) kernels with <typeparamref name="T"/> expanding the values: GEMM for several rows, GEMV for one.</summary>
    private static void Run<T>(ReadOnlySpan<float> x, SparseMatrix m, Span<float> y, int rows, int outStart, int outEnd)
        where T : IValueExpand
    {
        if (rows > 1)
        {
            fixed (float* px = x)
            fixed (float* py = y)
            {
                SparseGemm.Run<T>(px, rows, m, outStart, outEnd, py);
            }
            return;
        }
        Gemv<T>(x, m, y, outStart, outEnd);
    }

    private static void Check(ReadOnlySpan<float> x, CpuSparseWeight w, Span<float> y, int rows)
    {
        ArgumentNullException.ThrowIfNull(w);
        ObjectDisposedException.ThrowIf(w.IsDisposed, w);
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        if (x.Length < (long)rows * w.Cols)
        {
            throw new ArgumentException($"matmul by '{w.Name}': x has {x.Length} elements, expected [{rows}, {w.Cols}] = {(long)rows * w.Cols}", nameof(x));
        }
        if (y.Length < (long)rows * w.Rows)
        {
            throw new ArgumentException($"matmul by '{w.Name}': y has {y.Length} elements, expected [{rows}, {w.Rows}] = {(long)rows * w.Rows}", nameof(y));
        }
    }

    private static void Gemv<T>(ReadOnlySpan<float> x, SparseMatrix m, Span<float> y, int outStart, int outEnd)
        where T : IValueExpand
    {
        int cols = m.Cols;
        // Scratch: a decoded mask (N:M) and a padded copy of a row whose values end too close to the buffer's end
        // for 8-wide loads. Pooled, so steady-state calls do not allocate.
        byte[] maskScratch = ArrayPool<byte>.Shared.Rent(m.MaskStride + 8);
        byte[] valueScratch = ArrayPool<byte>.Shared.Rent(cols * T.Size + 64);
        try
        {
            fixed (float* px = x)
            fixed (float* py = y)
            fixed (byte* ms = maskScratch)
            fixed (byte* vs = valueScratch)
            {
                byte* valuesEnd = m.ValuesEnd;
                for (int r = outStart; r < outEnd; r++)
                {
                    byte* mask = m.RowMask(r, ms);
                    byte* values = m.RowValues(r, out int count);
                    long rowBytes = (long)count * T.Size;
                    if (values + rowBytes + 32 > valuesEnd)
                    {
                        new ReadOnlySpan<byte>(values, (int)rowBytes).CopyTo(new Span<byte>(vs, (int)rowBytes));
                        values = vs;
                    }
                    py[r] = SparseRowKernels.Dot<T>(mask, values, cols, px);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(maskScratch);
            ArrayPool<byte>.Shared.Return(valueScratch);
        }
    }
}
