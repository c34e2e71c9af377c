namespace Copal.Tensors.Sparse;

/// <summary>How <see cref="SparseTensorCodec.Encode"/> stores N:M indices.</summary>
public enum NMIndexEncoding
{
    /// <summary>Pattern ranks where they take fewer bytes than the bit fields (2:4, 4:8, …), else the bit fields.</summary>
    Smallest,
    /// <summary>Always the in-memory bit fields (the layout of files written before the rank code).</summary>
    Fields,
}
