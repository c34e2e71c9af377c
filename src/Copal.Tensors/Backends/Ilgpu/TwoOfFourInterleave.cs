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
    /// the device layout, group by group.
    /// </summary>
    public static void Rows(ReadOnlySpan<byte> values, ReadOnlySpan<byte> index, int valueSize, int cols,
        Span<byte> storedValues, Span<byte> storedIndex)
    {
        int groups = cols >> 2, chunks = cols >> 4, groupBytes = 2 * valueSize, rows = index.Length / (groups >> 1);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<byte> rowValues = values.Slice(r * groups * groupBytes, groups * groupBytes);
            ReadOnlySpan<byte> rowIndex = index.Slice(r * (groups >> 1), groups >> 1);
            Span<byte> outValues = storedValues.Slice(r * groups * groupBytes, groups * groupBytes);
            Span<byte> outIndex = storedIndex.Slice(r * (groups >> 1), groups >> 1);
            outIndex.Clear();
            for (int g = 0; g < groups; g++)
            {
                int at = TwoOfFourLayout.StoredGroup(g, chunks);
                rowValues.Slice(g * groupBytes, groupBytes).CopyTo(outValues.Slice(at * groupBytes, groupBytes));
                int nibble = (rowIndex[g >> 1] >> ((g & 1) << 2)) & 0xF;
                outIndex[at >> 1] |= (byte)(nibble << ((at & 1) << 2));
            }
        }
    }
}
