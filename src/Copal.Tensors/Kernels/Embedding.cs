using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>Token embedding lookup: rows of a [vocab, dim] table in any weight dtype, converted to f32.</summary>
internal static unsafe class Embedding
{
    /// <summary>destination[t, :] = table[tokens[t], :] for every t; throws naming the token that is out of range.</summary>
    public static void Lookup(in WeightMatrix table, ReadOnlySpan<int> tokens, Span<float> destination)
    {
        int dim = table.Cols;
        if ((long)destination.Length < (long)tokens.Length * dim)
        {
            throw new ArgumentException($"destination has {destination.Length} elements, expected [{tokens.Length}, {dim}]", nameof(destination));
        }
        for (int t = 0; t < tokens.Length; t++)
        {
            if ((uint)tokens[t] >= (uint)table.Rows)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token {tokens[t]} at index {t} is outside the vocabulary [0, {table.Rows})");
            }
        }
        fixed (float* d = destination)
        {
            for (int t = 0; t < tokens.Length; t++)
            {
                Row(table, tokens[t], d + (nint)t * dim);
            }
        }
    }

    /// <summary>destination[0..Cols) = row <paramref name="row"/> of <paramref name="matrix"/> as f32.</summary>
    internal static void Row(in WeightMatrix matrix, int row, float* destination)
    {
        if (matrix.IsPanels)
        {
            // A packed tied head: the row's elements are a panel line apart.
            for (int k = 0; k < matrix.Cols; k++)
            {
                byte* e = matrix.ElementAddress(row, k);
                destination[k] = matrix.DType switch
                {
                    DType.F32 => *(float*)e,
                    DType.BF16 => Bf16Load.Load1(e, 0),
                    _ => F16Load.Load1(e, 0),
                };
            }
            return;
        }
        byte* src = matrix.Row(row);
        switch (matrix.DType)
        {
            case DType.F32: new ReadOnlySpan<float>(src, matrix.Cols).CopyTo(new Span<float>(destination, matrix.Cols)); break;
            case DType.BF16: Convert<Bf16Load>(src, matrix.Cols, destination); break;
            case DType.F16: Convert<F16Load>(src, matrix.Cols, destination); break;
            default: throw new NotSupportedException($"weight dtype {matrix.DType}");
        }
    }

    private static void Convert<TLoad>(byte* src, int count, float* destination)
        where TLoad : IWeightLoad
    {
        nint i = 0;
        for (; i + 8 <= count; i += 8)
        {
            TLoad.Load8(src, i).Store(destination + i);
        }
        for (; i < count; i++)
        {
            destination[i] = TLoad.Load1(src, i);
        }
    }
}
