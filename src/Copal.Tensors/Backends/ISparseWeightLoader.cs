using Copal.Tensors.Sparse;

namespace Copal.Tensors.Backends;

/// <summary>
/// A backend that multiplies by compressed weights directly. Backends without it get sparse checkpoints densified
/// by the loader.
/// </summary>
public interface ISparseWeightLoader
{
    /// <summary>Wraps <paramref name="matrix"/> as a weight for MatMul; the weight owns and disposes it.</summary>
    DeviceWeight LoadSparseWeight(SparseMatrix matrix);
}
