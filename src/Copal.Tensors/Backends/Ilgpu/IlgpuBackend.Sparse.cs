using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using Copal.Tensors.Backends.Ilgpu.Kernels;
using Copal.Tensors.Sparse;

namespace Copal.Tensors.Backends.Ilgpu;

/// <summary>Compressed weights on the accelerator: upload (<see cref="ISparseWeightLoader"/>) and the sparse MatMul.</summary>
public sealed partial class IlgpuBackend : ISparseWeightLoader
{
    /// <summary>
    /// False: the CPU's break-even points were not measured on a GPU, so dense weights stay dense in
    /// <c>--sparse auto</c>; compact checkpoints (and <c>--sparse force</c>) still load compressed.
    /// </summary>
    public bool ConvertsDenseWeights => false;

    /// <inheritdoc/>
    public DeviceWeight LoadSparseWeight(SparseMatrix matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        ObjectDisposedException.ThrowIf(_disposed, this);
        using (matrix)
        {
            if (!SparseMatrix.HoldsValuesOf(matrix.DType))
            {
                throw new ArgumentException($"LoadSparseWeight: tensor '{matrix.Name}' stores {matrix.DType} values; the device kernels take F32, BF16 or F16", nameof(matrix));
            }
            var owned = new List<MemoryBuffer>();
            try
            {
                ReadOnlySpan<byte> valueBytes = matrix switch
                {
                    NMSparseMatrix nm => nm.ValueBytes,
                    BitmaskSparseMatrix bm => bm.ValueBytes,
                    _ => throw new ArgumentException($"LoadSparseWeight: tensor '{matrix.Name}' has format {matrix.Format}, which has no device kernel", nameof(matrix)),
                };
                string what = $"compressed weight '{matrix.Name}'";
                if (matrix is NMSparseMatrix chunked && IlgpuSparseWeight.LoadsAsTwoOfFourChunks(chunked))
                {
                    return UploadTwoOfFour(chunked, owned, what);
                }
                (MemoryBuffer values, Bf16Weights bf16, F16Weights f16, F32Weights f32) = UploadValues(matrix.DType, valueBytes, owned, what);
                switch (matrix)
                {
                    case NMSparseMatrix nm:
                        MemoryBuffer1D<byte, Stride1D.Dense> index = Upload(nm.Index, owned, what);
                        _stream.Synchronize();
                        return new IlgpuSparseWeight(this, nm, values, index, null, bf16, f16, f32, index.View.AsContiguous(), default, default);
                    case BitmaskSparseMatrix bm:
                        (uint[] words, uint[] starts) = MaskWords(bm);
                        MemoryBuffer1D<uint, Stride1D.Dense> wordBuffer = Upload<uint>(words, owned, what), startBuffer = Upload<uint>(starts, owned, what);
                        _stream.Synchronize();
                        return new IlgpuSparseWeight(this, bm, values, wordBuffer, startBuffer, bf16, f16, f32, default,
                            wordBuffer.View.AsContiguous(), startBuffer.View.AsContiguous());
                    default:
                        throw new ArgumentException($"LoadSparseWeight: tensor '{matrix.Name}' has format {matrix.Format}, which has no device kernel", nameof(matrix));
                }
            }
            catch
            {
                owned.ForEach(b => b.Dispose());
                throw;
            }
        }
    }

    private void MatMulSparse(ArrayView<float> x, IlgpuSparseWeight weight, ArrayView<float> y, int rows)
    {
        if (weight.Owner != this)
        {
            throw new ArgumentException($"MatMul: sparse weight '{weight.Name}' was not loaded by this {Info.Kind} backend", nameof(weight));
        }
        ObjectDisposedException.ThrowIf(weight.IsDisposed, weight);
        if (rows > 1)
        {
            GemmSparse(x, weight, y, rows);
            return;
        }
        // Decode: a team of lanes per output feature.
        KernelConfig config = TeamPerOutput(weight.Rows);
        int outs = weight.Rows, cols = weight.Cols;
        if (weight.IsTwoOfFourInChunks)
        {
            // x read as quads, the row in chunks of four groups (one 16-byte load of values each).
            switch (weight.DType)
            {
                case DType.BF16: _kernels.TwoOfFourBf16(config, x, weight.Bf16, weight.NMIndex, y, rows, outs, cols); break;
                case DType.F16: _kernels.TwoOfFourF16(config, x, weight.F16, weight.NMIndex, y, rows, outs, cols); break;
                default: _kernels.TwoOfFourF32(config, x, weight.F32, weight.NMIndex, y, rows, outs, cols); break;
            }
            return;
        }
        if (weight.Format == SparseFormat.NM)
        {
            int n = weight.N, m = weight.M, bits = weight.Bits, stride = weight.IndexStride;
            switch (weight.DType)
            {
                case DType.BF16: _kernels.SparseNMBf16(config, x, weight.Bf16, weight.NMIndex, y, rows, outs, cols, n, m, bits, stride); break;
                case DType.F16: _kernels.SparseNMF16(config, x, weight.F16, weight.NMIndex, y, rows, outs, cols, n, m, bits, stride); break;
                default: _kernels.SparseNMF32(config, x, weight.F32, weight.NMIndex, y, rows, outs, cols, n, m, bits, stride); break;
            }
            return;
        }
        switch (weight.DType)
        {
            case DType.BF16: _kernels.BitmaskBf16(config, x, weight.Bf16, weight.MaskWords, weight.MaskStarts, y, rows, outs, cols); break;
            case DType.F16: _kernels.BitmaskF16(config, x, weight.F16, weight.MaskWords, weight.MaskStarts, y, rows, outs, cols); break;
            default: _kernels.BitmaskF32(config, x, weight.F32, weight.MaskWords, weight.MaskStarts, y, rows, outs, cols); break;
        }
    }

    /// <summary>
    /// Prefill: the tiled GEMM, decoding the compressed weights as it stages them (a view per format that presents
    /// the dense matrix it encodes). The per-feature kernels re-read every input row for every output feature:
    /// about 34 GB of cache traffic for a 7B linear at 512 rows.
    /// </summary>
    private void GemmSparse(ArrayView<float> x, IlgpuSparseWeight weight, ArrayView<float> y, int rows)
    {
        KernelConfig tiles = GemmTiles(rows, weight.Rows);
        int outs = weight.Rows, cols = weight.Cols;
        if (weight.Format == SparseFormat.NM && weight.N == 2 && weight.M == 4 && weight.Bits == 2)
        {
            int stride = weight.IndexStride;
            bool chunks = weight.IsTwoOfFourInChunks;
            switch (weight.DType)
            {
                case DType.BF16: _kernels.GemmTwoOfFourBf16(tiles, x, new TwoOfFourView<Bf16Weights>(weight.Bf16, weight.NMIndex, cols, stride, chunks), y, rows, outs, cols); break;
                case DType.F16: _kernels.GemmTwoOfFourF16(tiles, x, new TwoOfFourView<F16Weights>(weight.F16, weight.NMIndex, cols, stride, chunks), y, rows, outs, cols); break;
                default: _kernels.GemmTwoOfFourF32(tiles, x, new TwoOfFourView<F32Weights>(weight.F32, weight.NMIndex, cols, stride, chunks), y, rows, outs, cols); break;
            }
        }
        else if (weight.Format == SparseFormat.NM)
        {
            int n = weight.N, m = weight.M, bits = weight.Bits, stride = weight.IndexStride;
            switch (weight.DType)
            {
                case DType.BF16: _kernels.GemmNMBf16(tiles, x, new NMView<Bf16Weights>(weight.Bf16, weight.NMIndex, cols, n, m, bits, stride), y, rows, outs, cols); break;
                case DType.F16: _kernels.GemmNMF16(tiles, x, new NMView<F16Weights>(weight.F16, weight.NMIndex, cols, n, m, bits, stride), y, rows, outs, cols); break;
                default: _kernels.GemmNMF32(tiles, x, new NMView<F32Weights>(weight.F32, weight.NMIndex, cols, n, m, bits, stride), y, rows, outs, cols); break;
            }
        }
        else
        {
            switch (weight.DType)
            {
                case DType.BF16: _kernels.GemmBitmaskBf16(tiles, x, new BitmaskView<Bf16Weights>(weight.Bf16, weight.MaskWords, weight.MaskStarts, cols), y, rows, outs, cols); break;
                case DType.F16: _kernels.GemmBitmaskF16(tiles, x, new BitmaskView<F16Weights>(weight.F16, weight.MaskWords, weight.MaskStarts, cols), y, rows, outs, cols); break;
                default: _kernels.GemmBitmaskF32(tiles, x, new BitmaskView<F32Weights>(weight.F32, weight.MaskWords, weight.MaskStarts, cols), y, rows, outs, cols); break;
            }
        }
    }

    /// <summary>
    /// A 2:4 weight the chunk kernels read, permuted into their layout (<see cref="TwoOfFourLayout"/>) a slab of rows
    /// at a time, so the host holds a few megabytes beside the checkpoint, not a copy of the weight.
    /// </summary>
    private IlgpuSparseWeight UploadTwoOfFour(NMSparseMatrix nm, List<MemoryBuffer> owned, string what)
    {
        int valueSize = nm.DType.SizeOf();
        long rowValueBytes = (long)nm.Cols / 2 * valueSize, rowIndexBytes = nm.IndexStride;
        int slabRows = (int)Math.Clamp(InterleaveSlabBytes / (rowValueBytes + rowIndexBytes), 1, nm.Rows);
        MemoryBuffer1D<byte, Stride1D.Dense> values = AllocateOnDevice<byte>(Math.Max(rowValueBytes * nm.Rows, 1), what, DeviceOutOfMemoryException.WeightsRemedy);
        owned.Add(values);
        MemoryBuffer1D<byte, Stride1D.Dense> index = AllocateOnDevice<byte>(Math.Max(rowIndexBytes * nm.Rows, 1), what, DeviceOutOfMemoryException.WeightsRemedy);
        owned.Add(index);
        var slabValues = new byte[rowValueBytes * slabRows];
        var slabIndex = new byte[rowIndexBytes * slabRows];
        ReadOnlySpan<byte> allValues = nm.ValueBytes, allIndex = nm.Index;
        for (int r = 0; r < nm.Rows; r += slabRows)
        {
            int rows = Math.Min(slabRows, nm.Rows - r);
            int valueLength = (int)(rowValueBytes * rows), indexLength = (int)(rowIndexBytes * rows);
            TwoOfFourInterleave.Rows(allValues.Slice((int)(rowValueBytes * r), valueLength), allIndex.Slice((int)(rowIndexBytes * r), indexLength),
                valueSize, nm.Cols, slabValues.AsSpan(0, valueLength), slabIndex.AsSpan(0, indexLength));
            values.View.AsContiguous().SubView(rowValueBytes * r, valueLength).CopyFromCPU(_stream, slabValues.AsSpan(0, valueLength));
            index.View.AsContiguous().SubView(rowIndexBytes * r, indexLength).CopyFromCPU(_stream, slabIndex.AsSpan(0, indexLength));
            // The slab arrays are refilled next: the copies must be done with them.
            _stream.Synchronize();
        }
        ArrayView<byte> valueView = values.View.AsContiguous();
        Bf16Weights bf16 = nm.DType == DType.BF16 ? Bf16Weights.Over(valueView.Cast<ushort>()) : default;
        F16Weights f16 = nm.DType == DType.F16 ? F16Weights.Over(valueView.Cast<ushort>()) : default;
        F32Weights f32 = nm.DType == DType.F32 ? F32Weights.Over(valueView.Cast<float>()) : default;
        return new IlgpuSparseWeight(this, nm, values, index, null, bf16, f16, f32, index.View.AsContiguous(), default, default);
    }

    /// <summary>Host bytes a slab of rows takes while <see cref="UploadTwoOfFour"/> permutes it.</summary>
    private const long InterleaveSlabBytes = 4 << 20;

    private (MemoryBuffer Buffer, Bf16Weights Bf16, F16Weights F16, F32Weights F32) UploadValues(DType dtype, ReadOnlySpan<byte> bytes, List<MemoryBuffer> owned, string what)
    {
        if (dtype is DType.BF16 or DType.F16)
        {
            MemoryBuffer1D<ushort, Stride1D.Dense> words = Upload(MemoryMarshal.Cast<byte, ushort>(bytes), owned, what);
            ArrayView<ushort> view = words.View.AsContiguous();
            return dtype == DType.BF16 ? (words, Bf16Weights.Over(view), default, default) : (words, default, F16Weights.Over(view), default);
        }
        MemoryBuffer1D<float, Stride1D.Dense> values = Upload(MemoryMarshal.Cast<byte, float>(bytes), owned, what);
        return (values, default, default, F32Weights.Over(values.View.AsContiguous()));
    }

    /// <summary>Copies <paramref name="data"/> (part of weight <paramref name="what"/>) to a new device buffer (at least one element long); refused with the weights' remedy where it does not fit.</summary>
    private MemoryBuffer1D<T, Stride1D.Dense> Upload<T>(ReadOnlySpan<T> data, List<MemoryBuffer> owned, string what)
        where T : unmanaged
    {
        MemoryBuffer1D<T, Stride1D.Dense> buffer = AllocateOnDevice<T>(Math.Max(data.Length, 1), what, DeviceOutOfMemoryException.WeightsRemedy);
        owned.Add(buffer);
        if (!data.IsEmpty)
        {
            buffer.View.AsContiguous().SubView(0, data.Length).CopyFromCPU(_stream, data);
        }
        return buffer;
    }

    /// <summary>The bitmask as 32-bit words per row and the first value index of each word (the kernel's layout).</summary>
    private static (uint[] Words, uint[] Starts) MaskWords(BitmaskSparseMatrix matrix)
    {
        if (matrix.StoredValues > uint.MaxValue)
        {
            throw new ArgumentException($"LoadSparseWeight: tensor '{matrix.Name}' stores {matrix.StoredValues} values; the device kernel indexes at most {uint.MaxValue}", nameof(matrix));
        }
        int perRow = (matrix.Cols + 31) / 32, stride = matrix.MaskStride;
        var words = new uint[(long)matrix.Rows * perRow];
        var starts = new uint[words.Length];
        ReadOnlySpan<byte> mask = matrix.Mask;
        ReadOnlySpan<long> offsets = matrix.Offsets;
        for (int r = 0; r < matrix.Rows; r++)
        {
            uint next = (uint)offsets[r];
            for (int w = 0; w < perRow; w++)
            {
                uint word = 0;
                for (int b = 0; b < 4 && (w * 4) + b < stride; b++)
                {
                    word |= (uint)mask[(r * stride) + (w * 4) + b] << (8 * b);
                }
                long i = ((long)r * perRow) + w;
                words[i] = word;
                starts[i] = next;
                next += (uint)System.Numerics.BitOperations.PopCount(word);
            }
        }
        return (words, starts);
    }
}
