namespace Copal.Tensors;

/// <summary>
/// A read-only, zero-copy view of one stored tensor: its name, dtype, shape and the address of its first byte.
/// The memory belongs to whoever created the view (a memory-mapped safetensors file, a pinned array, native memory)
/// and must outlive it. Row-major; a linear layer's weight is [out, in] as in Hugging Face checkpoints.
/// </summary>
public readonly unsafe struct TensorView
{
    public TensorView(string name, DType dtype, long[] shape, byte* data, long byteLength)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        long count = 1;
        foreach (long d in shape)
        {
            if (d < 0)
            {
                throw new ArgumentException($"tensor '{name}' has a negative dimension in shape [{string.Join(", ", shape)}]", nameof(shape));
            }
            count *= d;
        }
        if (count * dtype.SizeOf() != byteLength)
        {
            throw new ArgumentException(
                $"tensor '{name}' of dtype {dtype} and shape [{string.Join(", ", shape)}] needs {count * dtype.SizeOf()} bytes, got {byteLength}",
                nameof(byteLength));
        }
        Name = name;
        DType = dtype;
        Shape = shape;
        Data = data;
        ByteLength = byteLength;
        ElementCount = count;
    }

    public string Name { get; }
    public DType DType { get; }
    public long[] Shape { get; }
    public byte* Data { get; }
    public long ByteLength { get; }
    public long ElementCount { get; }
    public int Rank => Shape.Length;

    /// <summary>The bytes, when the tensor is under 2 GiB.</summary>
    public ReadOnlySpan<byte> Bytes => new(Data, checked((int)ByteLength));

    /// <summary>The elements reinterpreted as T; T's size must match the dtype.</summary>
    public ReadOnlySpan<T> AsSpan<T>() where T : unmanaged
    {
        if (sizeof(T) != DType.SizeOf())
        {
            throw new InvalidOperationException($"tensor '{Name}' is {DType}; cannot view it as {typeof(T).Name}");
        }
        return new ReadOnlySpan<T>(Data, checked((int)ElementCount));
    }

    public string ShapeString => "[" + string.Join(", ", Shape) + "]";

    public override string ToString() => $"{Name} {DType} {ShapeString}";
}
