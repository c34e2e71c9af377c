namespace Copal.Tensors.Sparse;

/// <summary>
/// A sparse matrix that cannot be built or loaded: a dense matrix violating the requested pattern, or stored parts
/// whose shapes, byte lengths or index values are inconsistent. The message names the tensor and what was expected.
/// </summary>
public sealed class SparseFormatException : Exception
{
    /// <summary>An error about tensor <paramref name="tensorName"/>; the message reads "tensor 'name': message".</summary>
    public SparseFormatException(string tensorName, string message)
        : base($"tensor '{tensorName}': {message}") => TensorName = tensorName;

    /// <summary>The tensor the error is about.</summary>
    public string TensorName { get; }
}
