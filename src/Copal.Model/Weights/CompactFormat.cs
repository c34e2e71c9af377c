namespace Copal.Model.Weights;

/// <summary>Which compact format <see cref="CheckpointCompactor"/> writes for sparse linears.</summary>
public enum CompactFormat
{
    /// <summary>2:4 where the weight satisfies it, else the bitmask where the weight is sparse enough to shrink.</summary>
    Auto,

    /// <summary>
    /// 2:4 only: a dense linear stays dense, and a pruned linear that is not 2:4 is refused
    /// (<see cref="CompactFormatException"/>), since keeping it dense would quietly write a partly dense copy.
    /// </summary>
    NM,

    /// <summary>The unstructured bitmask for every linear with zeros.</summary>
    Bitmask,
}

/// <summary>What a compaction or densification wrote.</summary>
/// <param name="Tensors">Tensors in the output file, each part of a compact weight counted.</param>
/// <param name="SparseLinears">Linears stored compact (compaction) or expanded to dense (densification).</param>
/// <param name="InputBytes">Bytes of the input's safetensors files.</param>
/// <param name="OutputBytes">Bytes of the output's single safetensors file.</param>
public sealed record CompactReport(int Tensors, int SparseLinears, long InputBytes, long OutputBytes)
{
    /// <summary>
    /// Compaction only: removed weights that were −0 rather than +0 (a mask multiplied into negative weights makes
    /// them). The compact formats store the kept weights and their positions, so <c>densify</c> gives these back as
    /// +0: the same number, another sign bit. Every other byte comes back exactly.
    /// </summary>
    public long NegativeZeros { get; init; }
}

/// <summary>
/// How far a compaction or densification is: <paramref name="BytesDone"/> of <paramref name="BytesTotal"/> through
/// <paramref name="Stage"/>, counted in the weights' dense bytes. Compaction goes through the model twice (its header
/// needs every part's size before the first byte is written, and memory holds one weight's encoding at a time), so it
/// has two stages, each counted from 0.
/// </summary>
/// <param name="Stage">What is being done, in words ("measuring each linear's format", "writing").</param>
/// <param name="BytesDone">Dense bytes of the tensors this stage is through.</param>
/// <param name="BytesTotal">Dense bytes of every tensor the stage goes through.</param>
public readonly record struct CompactProgress(string Stage, long BytesDone, long BytesTotal);
