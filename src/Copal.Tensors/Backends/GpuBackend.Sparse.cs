using System.Runtime.InteropServices;
using Copal.Tensors.Backends.Gpu;
using Copal.Tensors.Sparse;

namespace Copal.Tensors.Backends;

/// <summary>Compressed weights on the device: upload (<see cref="ISparseWeightLoader"/>) and the sparse MatMul.</summary>
public abstract partial class GpuBackend : ISparseWeightLoader
{
    /// <summary>
    /// False: the CPU's break-even points were not measured on a GPU, so dense weights stay dense in
    /// <c>--sparse auto</c>; compact checkpoints (and <c>--sparse force</c>) still load compressed.
    /// </summary>
    public bool ConvertsDenseWeights => false;

    public DeviceWeight LoadSparseWeight(SparseMatrix matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        using (matrix)
        {
            var buffers = new List<DeviceBuffer>();
            try
            {
                switch (matrix)
                {
                    case NMSparseMatrix nm:
                        buffers.Add(UploadBytes(nm.ValueBytes));
                        buffers.Add(UploadBytes(nm.Index));
                        return new GpuSparseWeight(nm, buffers[0], buffers[1], null);
                    case BitmaskSparseMatrix bm:
                        var (words, starts) = MaskWords(bm);
                        buffers.Add(UploadBytes(bm.ValueBytes));
                        buffers.Add(UploadBytes(MemoryMarshal.AsBytes(words.AsSpan())));
                        buffers.Add(UploadBytes(MemoryMarshal.AsBytes(starts.AsSpan())));
                        return new GpuSparseWeight(bm, buffers[0], buffers[1], buffers[2]);
                    default:
                        throw new ArgumentException($"LoadSparseWeight: tensor '{matrix.Name}' has format {matrix.Format}, which has no device kernel", nameof(matrix));
                }
            }
            catch
            {
                buffers.ForEach(b => b.Dispose());
                throw;
            }
        }
    }

    private void MatMulSparse(DeviceBuffer x, GpuSparseWeight weight, DeviceBuffer y, int rows)
    {
        if (weight.IsDisposed)
        {
            throw new ObjectDisposedException(nameof(GpuSparseWeight), $"MatMul: sparse weight '{weight.Name}' is disposed");
        }
        KernelArg xa = ArgOf(x, "MatMul", nameof(x)), ya = ArgOf(y, "MatMul", nameof(y));
        KernelArg values = ArgOf(weight.Values, "MatMul", "weight values"), index = ArgOf(weight.Index, "MatMul", "weight index");
        LaunchShape shape = LaunchShape.PerRow(weight.Rows);
        bool bf16 = weight.DType == DType.BF16;
        if (weight.Format == SparseFormat.NM)
        {
            Launch(bf16 ? KernelId.SpmmNMBf16 : KernelId.SpmmNMF32, shape,
                [xa, values, index, ya, rows, weight.Rows, weight.Cols, weight.N, weight.M, weight.Bits, weight.IndexStride]);
        }
        else
        {
            KernelArg starts = ArgOf(weight.Starts!, "MatMul", "weight starts");
            Launch(bf16 ? KernelId.SpmmBitmaskBf16 : KernelId.SpmmBitmaskF32, shape, [xa, values, index, starts, ya, rows, weight.Rows, weight.Cols]);
        }
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

    /// <summary>Copies raw bytes to a new device buffer (a float buffer padded to whole floats, at least one).</summary>
    private DeviceBuffer UploadBytes(ReadOnlySpan<byte> bytes)
    {
        var padded = new float[Math.Max(1, (bytes.Length + 3) / 4)];
        bytes.CopyTo(MemoryMarshal.AsBytes(padded.AsSpan()));
        DeviceBuffer buffer = Allocate(padded.Length);
        try
        {
            Upload(padded, buffer);
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
        return buffer;
    }
}
