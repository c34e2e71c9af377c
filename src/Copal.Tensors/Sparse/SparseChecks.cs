namespace Copal.Tensors.Sparse;

/// <summary>Shape and dtype checks of stored sparse parts, with errors that name the part and both values.</summary>
internal static class SparseChecks
{
    public static void Expect(string owner, TensorView part, DType dtype, params long[] shape)
    {
        if (part.DType != dtype)
        {
            throw new SparseFormatException(owner, $"part '{part.Name}' has dtype {part.DType}, expected {dtype}");
        }
        ExpectShape(owner, part, shape);
    }

    public static void ExpectShape(string owner, TensorView part, params long[] shape)
    {
        if (!part.Shape.AsSpan().SequenceEqual(shape))
        {
            throw new SparseFormatException(owner, $"part '{part.Name}' has shape {part.ShapeString}, expected [{string.Join(", ", shape)}]");
        }
    }
}
