using Copal.Tensors.Backends.Ilgpu;
using Copal.Tensors.Backends.Ilgpu.Kernels;

namespace Copal.Tensors.Tests.Backends;

/// <summary>
/// The device layout of 2:4 weights read in chunks: the kernel's view of a stored chunk (its first group and its
/// block's width), the GEMM view's inverse and the upload's permutation must describe one and the same placement.
/// </summary>
public sealed class TwoOfFourLayoutTests
{
    [Theory]
    [InlineData(1)]    // one chunk: a block of one
    [InlineData(3)]    // a row narrower than a block
    [InlineData(32)]   // one whole block
    [InlineData(33)]   // a whole block and a block of one
    [InlineData(133)]  // four whole blocks and one of five (2128 columns)
    [InlineData(688)]  // 11008 columns: 21 whole blocks and one of 16
    public void Stored_chunks_hold_each_group_once_where_the_inverse_finds_it(int chunks)
    {
        var seen = new bool[4 * chunks];
        for (int e = 0; e < chunks; e++)
        {
            int width = TwoOfFourLayout.BlockWidth(e, chunks);
            Assert.InRange(width, 1, TwoOfFourLayout.BlockChunks);
            for (int slot = 0; slot < 4; slot++)
            {
                int group = TwoOfFourLayout.FirstGroup(e) + (slot * width);
                Assert.InRange(group, 0, (4 * chunks) - 1);
                Assert.False(seen[group], $"group {group} stored twice (chunk {e}, slot {slot})");
                seen[group] = true;
                Assert.Equal((4 * e) + slot, TwoOfFourLayout.StoredGroup(group, chunks));
            }
        }
        Assert.All(seen, Assert.True);
    }

    /// <summary>
    /// A warp's lanes read consecutive stored chunks of a block; for each slot their x quads must be consecutive
    /// too, which is the point of the layout (one 512-byte x load touches four cache lines, not sixteen).
    /// </summary>
    [Fact]
    public void A_warps_chunks_read_consecutive_x_quads_for_each_slot()
    {
        const int chunks = 64;
        for (int slot = 0; slot < 4; slot++)
        {
            for (int lane = 1; lane < 32; lane++)
            {
                int previous = TwoOfFourLayout.FirstGroup(lane - 1) + (slot * TwoOfFourLayout.BlockWidth(lane - 1, chunks));
                Assert.Equal(previous + 1, TwoOfFourLayout.FirstGroup(lane) + (slot * TwoOfFourLayout.BlockWidth(lane, chunks)));
            }
        }
    }

    [Theory]
    [InlineData(2, 2, 48)]     // BF16 values, three chunks
    [InlineData(4, 3, 2128)]   // F32 values, a partial last block
    public void Interleave_moves_each_groups_values_and_fields_to_its_stored_place(int valueSize, int rows, int cols)
    {
        int groups = cols / 4;
        var rnd = new Random(cols);
        var values = new byte[rows * groups * 2 * valueSize];
        var index = new byte[rows * groups / 2];
        rnd.NextBytes(values);
        rnd.NextBytes(index);
        var storedValues = new byte[values.Length];
        var storedIndex = Enumerable.Repeat((byte)0xFF, index.Length).ToArray(); // stale bytes must not leak in
        TwoOfFourInterleave.Rows(values, index, valueSize, cols, storedValues, storedIndex);
        for (int r = 0; r < rows; r++)
        {
            for (int g = 0; g < groups; g++)
            {
                int at = TwoOfFourLayout.StoredGroup(g, cols / 16);
                int groupBytes = 2 * valueSize;
                Assert.Equal(values.AsSpan(((r * groups) + g) * groupBytes, groupBytes).ToArray(),
                    storedValues.AsSpan(((r * groups) + at) * groupBytes, groupBytes).ToArray());
                Assert.Equal(Nibble(index, (r * groups) + g), Nibble(storedIndex, (r * groups) + at));
            }
        }
    }

    private static int Nibble(byte[] index, int group) => (index[group >> 1] >> ((group & 1) << 2)) & 0xF;
}
