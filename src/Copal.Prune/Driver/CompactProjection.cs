using Copal.Model.Config;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;

namespace Copal.Prune.Driver;

/// <summary>
/// The tensor bytes <c>prune --compact</c> writes for a pruned model, known from its shapes and the pattern before the
/// pruning, so the free-space check made then can count the compact copy as it will be, not as large as the model.
/// Each pruned decoder linear (each part of a fused one apart) is counted as <see cref="CheckpointCompactor"/> stores
/// it: 2:4 and 1:2 (whose masks are 2:4) as N:M, any other pattern with at least <see cref="CheckpointCompactor.MinBitmaskSparsity"/> zeros as a
/// bitmask holding the values a row keeps, or as N:M where its mask could be 2:4 (whichever is larger); every other
/// tensor dense. Zeros the dense model already had only make the copy smaller, so this is an upper bound.
/// </summary>
internal static class CompactProjection
{
    /// <param name="tensors">The pruned model's tensors (the dense model's names, dtypes and shapes).</param>
    /// <param name="config">The model's config: which tensors are its decoder linears.</param>
    /// <param name="pattern">The sparsity every pruned linear gets.</param>
    /// <param name="layers">The layers pruned; null for all.</param>
    public static long Bytes(IEnumerable<TensorSpec> tensors, LlamaConfig config, SparsityPattern pattern, IReadOnlySet<int>? layers)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(pattern);
        // Each pruned linear by the rows of its parts: one part, or where the architecture fuses projections (Phi-3's
        // qkv_proj, gate_up_proj), the linears it holds, which the compactor stores apart, each compact.
        var pruned = new Dictionary<string, int[]>(StringComparer.Ordinal);
        for (int layer = 0; layer < config.NumLayers; layer++)
        {
            if (layers is not null && !layers.Contains(layer))
            {
                continue;
            }
            foreach (LinearId id in LinearIds.All)
            {
                pruned[LlamaTensorNames.Linear(layer, id)] = [];
            }
            if (config.FusedProjections)
            {
                pruned[LlamaTensorNames.FusedQkv(layer)] = [config.QDim, config.KvDim, config.KvDim];
                pruned[LlamaTensorNames.FusedGateUp(layer)] = [config.IntermediateSize, config.IntermediateSize];
            }
        }
        // Not the smaller of it and dense: the compactor stores a linear from 25 % zeros compact even where that is
        // larger (a bitmask of a few columns, its mask and offset beside fewer values).
        return tensors.Sum(t =>
        {
            if (!pruned.TryGetValue(t.Name, out int[]? parts) || t.Shape.Length != 2 || !SparseMatrix.HoldsValuesOf(t.DType)
                || (parts.Length > 0 && parts.Sum(rows => (long)rows) != t.Shape[0]))
            {
                return t.ByteLength;
            }
            int cols = checked((int)t.Shape[1]);
            return parts.Length == 0 ? Stored(t.Shape[0], cols, t.DType, pattern) : parts.Sum(rows => Stored(rows, cols, t.DType, pattern));
        });
    }

    /// <summary>
    /// Whether compacting the pruned model writes a copy at all. The compactor stores a linear compact from
    /// <see cref="CheckpointCompactor.MinBitmaskSparsity"/> zeros (2:4 has more), and with none to store writes nothing
    /// (<see cref="NothingToConvertException"/>: the pruned model stays as it is). A pattern with fewer zeros takes a
    /// linear there only with zeros the dense model already holds: a pruned linear ends with at most its own zeros
    /// plus the pattern's, an unpruned one with its own. Those are counted, a pass over the linears, only for such a
    /// pattern; a larger one always writes a copy.
    /// </summary>
    /// <param name="dense">The dense model's checkpoint.</param>
    /// <param name="config">The model's config: which tensors are its decoder linears.</param>
    /// <param name="pattern">The sparsity every pruned linear gets.</param>
    /// <param name="layers">The layers pruned; null for all.</param>
    /// <param name="cancellationToken">Checked between linears: the pass reads a large model's every linear.</param>
    public static bool WritesCopy(SafetensorsCheckpoint dense, LlamaConfig config, SparsityPattern pattern, IReadOnlySet<int>? layers,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dense);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(pattern);
        if (pattern.TargetSparsity >= CheckpointCompactor.MinBitmaskSparsity)
        {
            return true;
        }
        for (int layer = 0; layer < config.NumLayers; layer++)
        {
            double added = layers is null || layers.Contains(layer) ? pattern.TargetSparsity : 0;
            foreach (LinearId id in LinearIds.All)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (!dense.TryGet(LlamaTensorNames.Linear(layer, id), out TensorView t))
                {
                    return true; // stored otherwise (fused): not measured here, so counted
                }
                if (t.Rank == 2 && SparseMatrix.HoldsValuesOf(t.DType)
                    && SparsityAdvisor.Measure(t).Sparsity + added >= CheckpointCompactor.MinBitmaskSparsity)
                {
                    return true;
                }
            }
        }
        return false;
    }

    /// <summary>
    /// At least what <see cref="CheckpointCompactor"/>'s automatic choice stores for a linear pruned to
    /// <paramref name="pattern"/>: what it stores depends on the zeros it measures (at least the pattern's count, as
    /// the pruners round it down), but each choice open to it is bounded. 2:4 and 1:2 are stored as N:M (a bitmask, its one
    /// alternative, only where zeros beyond the pattern make it smaller). Any other pattern: a bitmask holds at most
    /// the values a row keeps; and where the zeros measured can be from half to under
    /// <see cref="SparsityAdvisor.BitmaskOverTwoFour"/> a mask that is 2:4 (by chance, or a 2:4 model pruned
    /// further) is stored N:M, which can take more.
    /// </summary>
    private static long Stored(long rows, int cols, DType dtype, SparsityPattern pattern)
    {
        long dense = rows * cols * dtype.SizeOf();
        // 1:2 zeroes one weight of every pair, so every group of four holds two zeros: it is 2:4, with 2:4's half, and
        // the compactor stores it as 2:4. Bounded as any 50 % pattern, by the bitmask, it was counted high: 4–5 % on
        // wide BF16 rows, 14 % on rows of 64 columns, where the bitmask's row offsets weigh most.
        if (pattern is SparsityPattern.NM { N: 2, M: 4 } || (pattern is SparsityPattern.NM { N: 1, M: 2 } && cols % 4 == 0))
        {
            return SparseTensorCodec.NMStoredBytes(rows, cols, 2, 4, dtype);
        }
        long kept = pattern switch
        {
            // N of every M pruned; a method counting over the whole matrix prunes no fewer than a row's count each row.
            SparsityPattern.NM nm => (long)cols / nm.M * (nm.M - nm.N),
            SparsityPattern.Unstructured u => cols - u.CountFor(cols),
            _ => cols,
        };
        // The fewest zeros the compactor can measure, not the pattern's ratio: ⌊0.65 · 4,096⌋ zeros are 64.99 %.
        double zeros = 1 - ((double)kept / cols);
        if (zeros < CheckpointCompactor.MinBitmaskSparsity)
        {
            return dense;
        }
        long bound = SparseTensorCodec.BitmaskStoredBytes(rows, cols, rows * kept, dtype);
        if (zeros >= 0.5 && zeros < SparsityAdvisor.BitmaskOverTwoFour && cols % 4 == 0)
        {
            bound = Math.Max(bound, SparseTensorCodec.NMStoredBytes(rows, cols, 2, 4, dtype));
        }
        return bound;
    }
}
