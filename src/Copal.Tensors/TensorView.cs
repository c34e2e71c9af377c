namespace Copal.Tensors;

/// <summary>
/// A read-only, zero-copy view of one stored tensor: its name, dtype, shape and the address of its first byte.
/// The memory belongs to whoever created the view (a memory-mapped safetensors file, a pinned array, native memory)
/// and must outlive it. Row-major; a linear layer's weight is [out, in] as in Hugging Face checkpoints.
/// </summary>
public readonly unsafe struct TensorView
{
    /// <summary>
    /// A view of <paramref name="byteLength"/> bytes at <paramref name="data"/>, which the caller keeps alive and
    /// unchanged for as long as the view is used; <paramref name="shape"/> is kept, not copied.
    /// </summary>
    /// <exception cref="ArgumentException">A dimension is negative, the bytes pass a long, or the shape and dtype need another byte length.</exception>
    public TensorView(string name, DType dtype, long[] shape, byte* data, long byteLength)
    {
        long count = ElementCountOf(name, dtype, shape);
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

    /// <summary>
    /// The elements of a tensor of <paramref name="shape"/>, whose bytes in <paramref name="dtype"/> a long holds.
    /// Checked: a product that wrapped around ([2^32, 2^32] counted 0) would pass for a tensor of a few bytes.
    /// </summary>
    /// <exception cref="ArgumentException">A dimension is negative, or the elements or bytes pass a long.</exception>
    internal static long ElementCountOf(string name, DType dtype, long[] shape)
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
        }
        if (shape.Contains(0))
        {
            return 0; // no elements, however large the other dimensions: their product is never taken
        }
        foreach (long d in shape)
        {
            if (count > long.MaxValue / d)
            {
                throw new ArgumentException($"tensor '{name}' of shape [{string.Join(", ", shape)}] has more elements than a long holds", nameof(shape));
            }
            count *= d;
        }
        if (count > long.MaxValue / dtype.SizeOf())
        {
            throw new ArgumentException($"tensor '{name}' of shape [{string.Join(", ", shape)}] and dtype {dtype} has more bytes than a long holds", nameof(shape));
        }
        return count;
    }

    /// <summary>
    /// Whether every value was checked finite (as a model's loader does unless non-finite weights are allowed):
    /// the CPU kernels then convert F16 without the Inf/NaN handling a conversion otherwise needs. Set it only on a
    /// view whose values were checked.
    /// </summary>
    public bool FiniteVerified { get; init; }

    /// <summary>The tensor's name, e.g. <c>model.layers.0.mlp.up_proj.weight</c>.</summary>
    public string Name { get; }
    /// <summary>The element type, as stored.</summary>
    public DType DType { get; }
    /// <summary>Dimensions, outermost first (row-major); empty for a scalar. Not a copy: do not change it.</summary>
    public long[] Shape { get; }
    /// <summary>Address of the first byte; the memory belongs to the view's creator.</summary>
    public byte* Data { get; }
    /// <summary>Bytes of the data: <see cref="ElementCount"/> · the dtype's size.</summary>
    public long ByteLength { get; }
    /// <summary>Elements: the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long ElementCount { get; }
    /// <summary>Number of dimensions.</summary>
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

    /// <summary>The shape as text, e.g. "[4096, 11008]".</summary>
    public string ShapeString => "[" + string.Join(", ", Shape) + "]";

    /// <summary>Name, dtype and shape, e.g. "lm_head.weight BF16 [32000, 4096]".</summary>
    public override string ToString() => $"{Name} {DType} {ShapeString}";
}
