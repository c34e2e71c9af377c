namespace Copal.Tensors.Backends;

/// <summary>The ops of <see cref="IBackend"/>, for backends that say which of them they implement.</summary>
public enum BackendOp
{
    MatMul,
    AddBias,
    RmsNorm,
    Rope,
    Attention,
    Copy,
    SiluMul,
    Add,
    Embedding,
    Softmax,
    AccumulateGram,
    AccumulateColumnSquares,
    AddRmsNorm,
    RopeAndStore,
    MatMulTriple,
    MatMulSiluGate,
    BatchRowAttention,
}

/// <summary>
/// A backend that may lack some ops. <see cref="CpuFallbackBackend"/> runs the missing ones on the CPU; calling a
/// missing op on the backend itself throws <see cref="NotSupportedException"/>.
/// </summary>
public interface IPartialBackend : IBackend
{
    /// <summary>True when <paramref name="op"/> runs on this backend's device.</summary>
    bool Supports(BackendOp op);
}
