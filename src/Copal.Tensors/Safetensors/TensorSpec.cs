namespace Copal.Tensors.Safetensors;

/// <summary>A tensor to be written: name, dtype and shape; its byte length follows from them.</summary>
/// <param name="Name">The tensor's name in the header.</param>
/// <param name="DType">Its element type.</param>
/// <param name="Shape">Its dimensions, outermost first; empty for a scalar.</param>
public readonly record struct TensorSpec(string Name, DType DType, long[] Shape)
{
    /// <summary>Product of the dimensions (1 for a scalar of shape []).</summary>
    public long ElementCount
    {
        get
        {
            long count = 1;
            foreach (long d in Shape)
            {
                count = checked(count * d);
            }
            return count;
        }
    }

    /// <summary>ElementCount × the dtype's element size.</summary>
    public long ByteLength => checked(ElementCount * DType.SizeOf());

    /// <summary>The spec of an existing tensor.</summary>
    public static TensorSpec Of(in TensorView view) => new(view.Name, view.DType, view.Shape);
}
