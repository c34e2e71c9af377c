using System.Runtime.InteropServices;
using Copal.Tensors.Backends.Ilgpu.Kernels;

namespace Copal.Tensors.Backends.Ilgpu;

/// <summary>
/// The host's half of <see cref="TwoOfFourLayout"/>: a 2:4 weight's rows permuted into the device layout before
/// upload (kept out of the kernels' namespace, whose public static methods are all kernel entry points).
/// </summary>
internal static class TwoOfFourInterleave
{
    /// <summary>
    /// Writes whole rows of a 2:4 weight as the checkpoint stores them (<paramref name="values"/>: two values of
    /// <paramref name="valueSize"/> bytes a group; <paramref name="index"/>: a nibble a group, cols / 8 bytes a row) in
    /// the device layout, chunk by chunk as the kernel reads it (<see cref="TwoOfFourLayout.FirstGroup"/>,
    /// <see cref="TwoOfFourLayout.BlockWidth"/>): a group's two values move as one 4- or 8-byte element, a chunk's
    /// four nibbles are one 16-bit word. It runs once a weight at load, over every group of the model.
    /// </summary>
    public static void Rows(ReadOnlySpan<byte> values, ReadOnlySpan<byte> index, int valueSize, int cols,
        Span<byte> storedValues, Span<byte> storedIndex)
    {
        if (valueSize == 2)
        {
            Rows(MemoryMarshal.Cast<byte, uint>(values), index, cols, MemoryMarshal.Cast<byte, uint>(storedValues), storedIndex);
        }
        else
        {
            Rows(MemoryMarshal.Cast<byte, ulong>(values), index, cols, MemoryMarshal.Cast<byte, ulong>(storedValues), storedIndex);
        }
    }

    // T holds one group's two values.
    private static void Rows<T>(ReadOnlySpan<T> pairs, ReadOnlySpan<byte> index, int cols, Span<T> storedPairs, Span<byte> storedIndex)
        where T : unmanaged
    {
        int groups = cols >> 2, chunks = cols >> 4, indexStride = groups >> 1, rows = index.Length / indexStride;
        Span<ushort> storedFields = MemoryMarshal.Cast<byte, ushort>(storedIndex);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> rowPairs = pairs.Slice(r * groups, groups);
            ReadOnlySpan<byte> rowIndex = index.Slice(r * indexStride, indexStride);
            Span<T> outPairs = storedPairs.Slice(r * groups, groups);
            Span<ushort> outFields = storedFields.Slice(r * chunks, chunks);
            for (int e = 0; e < chunks; e++)
            {
                int first = TwoOfFourLayout.FirstGroup(e), width = TwoOfFourLayout.BlockWidth(e, chunks);
                int fields = 0;
                for (int slot = 0; slot < 4; slot++)
                {
                    int g = first + (slot * width);
                    outPairs[(4 * e) + slot] = rowPairs[g];
                    fields |= ((rowIndex[g >> 1] >> ((g & 1) << 2)) & 0xF) << (4 * slot);
                }
                outFields[e] = (ushort)fields;
            }
        }
    }
}
