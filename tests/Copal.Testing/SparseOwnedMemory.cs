using Copal.Tensors.Sparse;

namespace Copal.Testing;

/// <summary>
/// The bytes sparse matrices own in this process (decoded rank indices, converted weights), for tests that check a
/// pass over a checkpoint holds one weight's at a time. Process-wide: read it only from tests that run alone.
/// </summary>
public static class SparseOwnedMemory
{
    public static long Bytes => NativeBlock.OwnedBytes;
}
