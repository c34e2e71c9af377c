namespace Copal.Tensors.Sparse;

/// <summary>How a loader treats linear weights on a backend that can run sparse kernels.</summary>
public enum SparseLoadMode
{
    /// <summary>Compact weights load compact; dense weights sparse enough to gain (SparsityAdvisor) are converted.</summary>
    Auto,

    /// <summary>Everything runs dense: compact weights are densified at load.</summary>
    Off,

    /// <summary>Every linear runs sparse: compact weights as stored, dense ones converted (2:4 when valid, else bitmask).</summary>
    Force,
}
