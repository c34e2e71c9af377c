using System.Runtime.CompilerServices;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>
/// How a 2:4 weight read in chunks (<see cref="SparseKernels.ReadsInChunks"/>) lies in device memory: each row's
/// groups permuted within blocks of <see cref="BlockChunks"/> chunks, so that stored chunk e' of a block of C chunks
/// holds the block's groups e', e' + C, e' + 2C and e' + 3C (the last block of a row may be narrower than 32 chunks).
/// A chunk is still eight consecutive values and four consecutive index nibbles, one 16-byte and one 16-bit load,
/// but the lanes of a warp reading consecutive chunks now need consecutive x quads for each of a chunk's four
/// groups: a warp's x load touches 4 cache lines for its 512 bytes, where chunks of consecutive groups had each lane
/// read the four quads of its own 64 bytes, 16 lines a load. For 512 bytes of BF16 values a warp touched 69 lines
/// (64 of them x's) against the dense GEMV's 20; now 21 (docs/gpu.md). The checkpoint's own layout is unchanged:
/// the backend permutes at upload (<see cref="TwoOfFourInterleave"/>), and the prefill GEMM's view reads the same layout.
/// </summary>
internal static class TwoOfFourLayout
{
    /// <summary>Chunks a block: a warp's lanes each take one chunk of a block a step.</summary>
    public const int BlockChunks = 32;

    /// <summary>The width in chunks of stored chunk <paramref name="chunk"/>'s block, in a row of <paramref name="chunks"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int BlockWidth(int chunk, int chunks) => Math.Min(BlockChunks, chunks - (chunk & ~(BlockChunks - 1)));

    /// <summary>
    /// The row group that stored chunk <paramref name="chunk"/> holds in its first slot; slot s holds this plus
    /// s × <see cref="BlockWidth"/>. It is also the x quad the slot multiplies.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int FirstGroup(int chunk) => (4 * (chunk & ~(BlockChunks - 1))) + (chunk & (BlockChunks - 1));

    /// <summary>Where row group <paramref name="group"/> is stored (its position in group units), in a row of <paramref name="chunks"/> chunks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int StoredGroup(int group, int chunks)
    {
        int blockStart = group & ~((4 * BlockChunks) - 1);
        int within = group - blockStart;
        int width = Math.Min(BlockChunks, chunks - (blockStart >> 2));
        // within ÷ width, which is below 4: three comparisons (selects in PTX) cost the GEMM's staging loop less
        // than a division by a width that is not a constant.
        int slot = (within >= width ? 1 : 0) + (within >= 2 * width ? 1 : 0) + (within >= 3 * width ? 1 : 0);
        int chunk = within - (slot * width);
        return blockStart + (4 * chunk) + slot;
    }
}
