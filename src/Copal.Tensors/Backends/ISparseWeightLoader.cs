using Copal.Tensors.Sparse;

namespace Copal.Tensors.Backends;

/// <summary>
/// A backend that multiplies by compressed weights directly. Backends without it get sparse checkpoints densified
/// by the loader.
/// </summary>
public interface ISparseWeightLoader
{
    /// <summary>Makes <paramref name="matrix"/> a weight for MatMul and takes ownership of it (it is disposed by this call or with the weight).</summary>
    DeviceWeight LoadSparseWeight(SparseMatrix matrix);

    /// <summary>
    /// Whether <c>--sparse auto</c> should convert dense weights that <see cref="Sparse.SparsityAdvisor"/> finds sparse
    /// enough: true where its break-even points were measured (the CPU).
    /// </summary>
    bool ConvertsDenseWeights { get; }
}
