using ILGPU;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>
/// Four consecutive f32 values. A view of these is loaded with one 16-byte vector instruction (ld.v4.f32 in PTX):
/// ILGPU vectorizes a struct of four 32-bit fields.
/// </summary>
internal struct Quad
{
    public float X;
    public float Y;
    public float Z;
    public float W;
}

/// <summary>Sixteen raw bytes of a weight row, loaded with one vector instruction like <see cref="Quad"/>.</summary>
internal struct Words4
{
    public uint A;
    public uint B;
    public uint C;
    public uint D;
}

/// <summary>Eight raw bytes of a weight row (four 16-bit weights), loaded with one vector instruction (ld.v2.u32).</summary>
internal struct Words2
{
    public uint A;
    public uint B;
}

/// <summary>Eight consecutive weights, converted to f32.</summary>
internal struct Octet
{
    public Quad Low;
    public Quad High;
}

/// <summary>
/// A weight matrix in its stored dtype as a kernel sees it. Kernels are generic over this interface, so ILGPU
/// compiles one specialization per dtype and the conversion happens in registers after the load.
/// </summary>
internal interface IWeightView
{
    /// <summary>Element <paramref name="index"/> as f32.</summary>
    float Load(long index);

    /// <summary>Element [row, col] of the matrix, whose rows are <paramref name="cols"/> wide, as f32.</summary>
    float LoadAt(int row, int col, int cols);

    /// <summary>
    /// Elements index … index + 7 as f32, read in 16-byte loads (one for 16-bit dtypes, two for f32).
    /// <paramref name="index"/> is a multiple of 8, so the address is 16-byte aligned as the vector load requires.
    /// </summary>
    Octet Load8(long index);

    /// <summary>
    /// Elements index … index + 3 as f32 in one vector load (8 bytes for 16-bit dtypes, 16 for f32).
    /// <paramref name="index"/> is a multiple of 4, so the address is aligned as the vector load requires.
    /// </summary>
    Quad Load4(long index);

    /// <summary>
    /// Elements [row, col] … [row, col + 3] as f32, where <paramref name="cols"/> and <paramref name="col"/> are
    /// multiples of 4: the GEMM's staging of a quad, where <see cref="LoadsVectors"/>. The plain dtypes read it in one
    /// vector load (<see cref="Load4"/>), a 2:4 view decodes it as the one group it is.
    /// </summary>
    Quad LoadQuadAt(int row, int col, int cols);

    /// <summary>
    /// Whether <see cref="LoadQuadAt"/> costs less than four <see cref="LoadAt"/>: one vector load (the plain dtypes)
    /// or one group's decode (2:4), not four decodes (the other compressed views). The GEMM's staging takes its quad
    /// path only then: for the other views it would add a second copy of the decoding, and registers, for nothing.
    /// A constant per view, so ILGPU drops the untaken branch.
    /// </summary>
    bool LoadsVectors { get; }

    /// <summary>
    /// Whether every matrix this view reads is a whole number of quads wide (2:4's groups of four): the GEMM then
    /// compiles no element-wise staging for widths that are not. A constant per view, like <see cref="LoadsVectors"/>.
    /// </summary>
    bool WidthInQuads { get; }
}

/// <summary>
/// <see cref="IWeightView.Load8"/> and <see cref="IWeightView.Load4"/> for views that decode one element at a time
/// (the compressed matrices seen as dense): one load an element. Only the GEMM's staging reads those views.
/// </summary>
internal static class ElementwiseVectors
{
    public static Octet Load8<TW>(TW view, long index)
        where TW : struct, IWeightView => new() { Low = Load4(view, index), High = Load4(view, index + 4) };

    public static Quad Load4<TW>(TW view, long index)
        where TW : struct, IWeightView =>
        new() { X = view.Load(index), Y = view.Load(index + 1), Z = view.Load(index + 2), W = view.Load(index + 3) };

    public static Quad LoadQuadAt<TW>(TW view, int row, int col, int cols)
        where TW : struct, IWeightView =>
        new() { X = view.LoadAt(row, col, cols), Y = view.LoadAt(row, col + 1, cols), Z = view.LoadAt(row, col + 2, cols), W = view.LoadAt(row, col + 3, cols) };
}

internal readonly struct F32Weights(ArrayView<float> values, ArrayView<Words4> vectors) : IWeightView
{
    private readonly ArrayView<float> _values = values;
    private readonly ArrayView<Words4> _vectors = vectors;

    public static F32Weights Over(ArrayView<float> values) => new(values, values.Cast<Words4>());

    public bool LoadsVectors => true;

    public bool WidthInQuads => false;

    public Quad LoadQuadAt(int row, int col, int cols) => Load4(((long)row * cols) + col);

    public float Load(long index) => _values[index];

    public float LoadAt(int row, int col, int cols) => Load(((long)row * cols) + col);

    public Octet Load8(long index)
    {
        Words4 a = _vectors[index >> 2], b = _vectors[(index >> 2) + 1];
        return new Octet { Low = Floats(a), High = Floats(b) };
    }

    public Quad Load4(long index) => Floats(_vectors[index >> 2]);

    private static Quad Floats(Words4 w) => new()
    {
        X = Interop.IntAsFloat(w.A),
        Y = Interop.IntAsFloat(w.B),
        Z = Interop.IntAsFloat(w.C),
        W = Interop.IntAsFloat(w.D),
    };
}

/// <summary>bfloat16 is the upper half of an IEEE single: a shift makes it one.</summary>
internal readonly struct Bf16Weights(ArrayView<ushort> values, ArrayView<Words4> vectors, ArrayView<Words2> pairs) : IWeightView
{
    private readonly ArrayView<ushort> _values = values;
    private readonly ArrayView<Words4> _vectors = vectors;
    private readonly ArrayView<Words2> _pairs = pairs;

    public static Bf16Weights Over(ArrayView<ushort> values) => new(values, values.Cast<Words4>(), values.Cast<Words2>());

    public bool LoadsVectors => true;

    public bool WidthInQuads => false;

    public Quad LoadQuadAt(int row, int col, int cols) => Load4(((long)row * cols) + col);

    public float Load(long index) => Interop.IntAsFloat((uint)_values[index] << 16);

    public float LoadAt(int row, int col, int cols) => Load(((long)row * cols) + col);

    public Octet Load8(long index)
    {
        Words4 w = _vectors[index >> 3];
        return new Octet { Low = new Quad { X = Low(w.A), Y = High(w.A), Z = Low(w.B), W = High(w.B) }, High = new Quad { X = Low(w.C), Y = High(w.C), Z = Low(w.D), W = High(w.D) } };
    }

    public Quad Load4(long index)
    {
        Words2 w = _pairs[index >> 2];
        return new Quad { X = Low(w.A), Y = High(w.A), Z = Low(w.B), W = High(w.B) };
    }

    private static float Low(uint pair) => Interop.IntAsFloat(pair << 16);

    private static float High(uint pair) => Interop.IntAsFloat(pair & 0xFFFF0000u);
}

/// <summary>IEEE half, decoded with integer operations (exact for every value, subnormals included).</summary>
internal readonly struct F16Weights(ArrayView<ushort> values, ArrayView<Words4> vectors, ArrayView<Words2> pairs) : IWeightView
{
    private readonly ArrayView<ushort> _values = values;
    private readonly ArrayView<Words4> _vectors = vectors;
    private readonly ArrayView<Words2> _pairs = pairs;

    public static F16Weights Over(ArrayView<ushort> values) => new(values, values.Cast<Words4>(), values.Cast<Words2>());

    public bool LoadsVectors => true;

    public bool WidthInQuads => false;

    public Quad LoadQuadAt(int row, int col, int cols) => Load4(((long)row * cols) + col);

    public float Load(long index) => HalfBits.ToSingle(_values[index]);

    public float LoadAt(int row, int col, int cols) => Load(((long)row * cols) + col);

    public Octet Load8(long index)
    {
        Words4 w = _vectors[index >> 3];
        return new Octet
        {
            Low = new Quad { X = HalfBits.ToSingle(w.A & 0xFFFFu), Y = HalfBits.ToSingle(w.A >> 16), Z = HalfBits.ToSingle(w.B & 0xFFFFu), W = HalfBits.ToSingle(w.B >> 16) },
            High = new Quad { X = HalfBits.ToSingle(w.C & 0xFFFFu), Y = HalfBits.ToSingle(w.C >> 16), Z = HalfBits.ToSingle(w.D & 0xFFFFu), W = HalfBits.ToSingle(w.D >> 16) },
        };
    }

    public Quad Load4(long index)
    {
        Words2 w = _pairs[index >> 2];
        return new Quad { X = HalfBits.ToSingle(w.A & 0xFFFFu), Y = HalfBits.ToSingle(w.A >> 16), Z = HalfBits.ToSingle(w.B & 0xFFFFu), W = HalfBits.ToSingle(w.B >> 16) };
    }
}

/// <summary>
/// Half to single by bit manipulation: ILGPU's BitConverter intrinsics do not compile, and this path is the same
/// on every accelerator. Each case is computed and the right one picked by flat selects (PTX <c>selp</c>), with no
/// branch: the F16 GEMV converts eight halves per load, and branches per half made its PTX about 50 KB.
/// Subnormals go through an integer-to-float conversion rather than a float multiply by 2^112, so a device that
/// flushes single-precision denormals (OpenCL allows it) still gets them right.
/// </summary>
internal static class HalfBits
{
    public static float ToSingle(uint half)
    {
        uint sign = (half & 0x8000u) << 16;
        uint exponent = half & 0x7C00u;
        // Exponents 1..30: rebias 15 → 127 (add 112 to the field) and widen the mantissa.
        uint normal = ((half & 0x7FFFu) << 13) + (112u << 23);
        // Exponent 31: infinity or NaN, mantissa kept.
        uint special = ((half & 0x3FFu) << 13) | 0x7F800000u;
        // Exponent 0: zero or subnormal, mantissa · 2^-24, exact in single precision.
        float subnormal = (half & 0x3FFu) * 5.9604644775390625e-8f;
        uint magnitude = exponent == 0x7C00u ? special : normal;
        float value = exponent == 0u ? subnormal : Interop.IntAsFloat(magnitude);
        return Interop.IntAsFloat(Interop.FloatAsInt(value) | sign);
    }
}
