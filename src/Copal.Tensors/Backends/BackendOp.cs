namespace Copal.Tensors.Backends;

/// <summary>The ops of <see cref="IBackend"/>, for backends that say which of them they implement.</summary>
public enum BackendOp
{
    /// <summary><see cref="IBackend.MatMul"/>.</summary>
    MatMul,
    /// <summary><see cref="IBackend.AddBias"/>.</summary>
    AddBias,
    /// <summary><see cref="IBackend.RmsNorm"/>.</summary>
    RmsNorm,
    /// <summary><see cref="IBackend.Rope"/>.</summary>
    Rope,
    /// <summary><see cref="IBackend.Attention"/>.</summary>
    Attention,
    /// <summary><see cref="IBackend.Copy"/>.</summary>
    Copy,
    /// <summary><see cref="IBackend.SiluMul"/>.</summary>
    SiluMul,
    /// <summary><see cref="IBackend.Add"/>.</summary>
    Add,
    /// <summary><see cref="IBackend.Scale"/>.</summary>
    Scale,
    /// <summary><see cref="IBackend.Embedding"/>.</summary>
    Embedding,
    /// <summary><see cref="IBackend.Softmax"/>.</summary>
    Softmax,
    /// <summary><see cref="IBackend.AccumulateGram"/>.</summary>
    AccumulateGram,
    /// <summary><see cref="IBackend.AccumulateColumnSquares"/>.</summary>
    AccumulateColumnSquares,
    /// <summary><see cref="IBackend.AddRmsNorm"/>.</summary>
    AddRmsNorm,
    /// <summary><see cref="IBackend.RopeAndStore"/>.</summary>
    RopeAndStore,
    /// <summary><see cref="IBackend.MatMulTriple"/>.</summary>
    MatMulTriple,
    /// <summary><see cref="IBackend.MatMulSiluGate"/>.</summary>
    MatMulSiluGate,
    /// <summary><see cref="IBackend.BatchRowAttention"/>.</summary>
    BatchRowAttention,
    /// <summary><see cref="IBackend.GeluTanhMul"/>.</summary>
    GeluTanhMul,
}

/// <summary>
/// A backend that may lack some ops. <see cref="CpuFallbackBackend"/> runs the missing ones on the CPU; calling a
/// missing op on the backend itself throws <see cref="NotSupportedException"/>.
/// </summary>
internal interface IPartialBackend : IBackend
{
    /// <summary>True when <paramref name="op"/> runs on this backend's device.</summary>
    bool Supports(BackendOp op);
}
