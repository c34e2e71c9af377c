using ILGPU;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>Four consecutive weights, converted to f32.</summary>
internal struct Quad
{
    public float X;
    public float Y;
    public float Z;
    public float W;
}

/// <summary>
/// A weight matrix in its stored dtype as a kernel sees it. Kernels are generic over this interface, so ILGPU
/// compiles one specialization per dtype and the conversion happens in registers after the load.
/// </summary>
internal interface IWeightView
{
    /// <summary>Element <paramref name="index"/> as f32.</summary>
    float Load(long index);

    /// <summary>Elements index … index + 3 as f32, read in 8-byte loads; <paramref name="index"/> is a multiple of 4.</summary>
    Quad Load4(long index);
}

internal readonly struct F32Weights(ArrayView<float> values, ArrayView<ulong> pairs) : IWeightView
{
    private readonly ArrayView<float> _values = values;
    private readonly ArrayView<ulong> _pairs = pairs;

    public float Load(long index) => _values[index];

    public Quad Load4(long index)
    {
        ulong a = _pairs[index >> 1], b = _pairs[(index >> 1) + 1];
        return new Quad
        {
            X = Interop.IntAsFloat((uint)a),
            Y = Interop.IntAsFloat((uint)(a >> 32)),
            Z = Interop.IntAsFloat((uint)b),
            W = Interop.IntAsFloat((uint)(b >> 32)),
        };
    }
}

/// <summary>bfloat16 is the upper half of an IEEE single: a shift makes it one.</summary>
internal readonly struct Bf16Weights(ArrayView<ushort> values, ArrayView<ulong> quads) : IWeightView
{
    private readonly ArrayView<ushort> _values = values;
    private readonly ArrayView<ulong> _quads = quads;

    public float Load(long index) => Interop.IntAsFloat((uint)_values[index] << 16);

    public Quad Load4(long index)
    {
        ulong q = _quads[index >> 2];
        return new Quad
        {
            X = Interop.IntAsFloat((uint)q << 16),
            Y = Interop.IntAsFloat((uint)(q >> 16) << 16),
            Z = Interop.IntAsFloat((uint)(q >> 32) << 16),
            W = Interop.IntAsFloat((uint)(q >> 48) << 16),
        };
    }
}

/// <summary>IEEE half, decoded with integer operations (exact for every value, subnormals included).</summary>
internal readonly struct F16Weights(ArrayView<ushort> values, ArrayView<ulong> quads) : IWeightView
{
    private readonly ArrayView<ushort> _values = values;
    private readonly ArrayView<ulong> _quads = quads;

    public float Load(long index) => HalfBits.ToSingle(_values[index]);

    public Quad Load4(long index)
    {
        ulong q = _quads[index >> 2];
        return new Quad
        {
            X = HalfBits.ToSingle((uint)q & 0xFFFF),
            Y = HalfBits.ToSingle((uint)(q >> 16) & 0xFFFF),
            Z = HalfBits.ToSingle((uint)(q >> 32) & 0xFFFF),
            W = HalfBits.ToSingle((uint)(q >> 48)),
        };
    }
}

/// <summary>
/// Half to single by bit manipulation: ILGPU's BitConverter intrinsics do not compile, and this path is the same
/// on every accelerator.
/// </summary>
internal static class HalfBits
{
    public static float ToSingle(uint half)
    {
        uint sign = (half & 0x8000u) << 16;
        uint exponent = (half >> 10) & 0x1Fu;
        uint mantissa = half & 0x3FFu;
        if (exponent == 0x1Fu)
        {
            return Interop.IntAsFloat(sign | 0x7F800000u | (mantissa << 13));
        }
        if (exponent == 0)
        {
            // Zero or subnormal: mantissa · 2^-24, exact in single precision.
            float magnitude = mantissa * 5.9604644775390625e-8f;
            return sign != 0 ? -magnitude : magnitude;
        }
        return Interop.IntAsFloat(sign | ((exponent + 112u) << 23) | (mantissa << 13));
    }
}
