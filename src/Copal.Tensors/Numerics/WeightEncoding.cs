using System.Runtime.InteropServices;

namespace Copal.Tensors.Numerics;

/// <summary>Turns f32 weights into a checkpoint's stored dtype (exact zeros stay exact zeros): pruned weights, synthetic ones.</summary>
internal static class WeightEncoding
{
    /// <summary>Elements encoded per piece by the <see cref="NativeTensor"/> overload: a piece's bytes fit a span.</summary>
    internal const int PieceElements = 1 << 26;

    /// <summary>
    /// Writes <paramref name="weight"/> into <paramref name="destination"/> as <paramref name="dtype"/> (F32 copied, BF16
    /// and F16 rounded to nearest); destination holds weight.Length elements of that dtype.
    /// </summary>
    /// <exception cref="NotSupportedException"><paramref name="dtype"/> is not F32, F16 or BF16.</exception>
    public static void Encode(ReadOnlySpan<float> weight, DType dtype, Span<byte> destination)
    {
        switch (dtype)
        {
            case DType.F32:
                MemoryMarshal.AsBytes(weight).CopyTo(destination);
                break;
            case DType.BF16:
                FloatConvert.FromSingle(weight, MemoryMarshal.Cast<byte, ushort>(destination));
                break;
            case DType.F16:
                FloatConvert.FromSingle(weight, MemoryMarshal.Cast<byte, Half>(destination));
                break;
            default:
                throw new NotSupportedException($"weights of dtype {dtype} cannot be encoded (expected F32, F16 or BF16)");
        }
    }

    /// <summary>
    /// Writes <paramref name="weight"/> into the whole of <paramref name="destination"/>, in its dtype, piece by piece: a
    /// tensor may pass 2 GiB (an embedding of 150k tokens in BF16), which no span of its bytes can hold.
    /// </summary>
    /// <exception cref="ArgumentException">The element counts differ.</exception>
    public static void Encode(ReadOnlySpan<float> weight, NativeTensor destination) => Encode(weight, destination, PieceElements);

    /// <summary>The same, in pieces of <paramref name="pieceElements"/> (tests cross piece boundaries with small tensors).</summary>
    internal static unsafe void Encode(ReadOnlySpan<float> weight, NativeTensor destination, int pieceElements)
    {
        ArgumentNullException.ThrowIfNull(destination);
        TensorView view = destination.View;
        if (weight.Length != view.ElementCount)
        {
            throw new ArgumentException($"tensor '{view.Name}' holds {view.ElementCount} elements; {weight.Length} were given", nameof(weight));
        }
        int size = view.DType.SizeOf();
        for (int i = 0; i < weight.Length; i += pieceElements)
        {
            int n = Math.Min(pieceElements, weight.Length - i);
            Encode(weight.Slice(i, n), view.DType, new Span<byte>(view.Data + (long)i * size, n * size));
        }
    }
}
