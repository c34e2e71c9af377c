namespace Copal.Tensors.Sparse;

/// <summary>How a weight matrix is stored for the sparse kernels.</summary>
public enum SparseFormat
{
    /// <summary>Plain dense storage; no sparse kernel.</summary>
    Dense,

    /// <summary>N:M semi-structured: per row, per group of M columns, N kept values plus packed in-group indices.</summary>
    NM,

    /// <summary>Unstructured: a bitmask (1 bit per weight) plus the nonzero values packed in row order.</summary>
    Bitmask,
}
