namespace Copal.Tensors;

/// <summary>Element types Copal stores. Names follow the safetensors dtype strings.</summary>
public enum DType
{
    /// <summary>IEEE 754 single precision, 4 bytes.</summary>
    F32,
    /// <summary>IEEE 754 half precision, 2 bytes.</summary>
    F16,
    /// <summary>bfloat16: the upper half of an F32 (8-bit exponent, 7-bit mantissa), 2 bytes.</summary>
    BF16,
    /// <summary>IEEE 754 double precision, 8 bytes.</summary>
    F64,
    /// <summary>Signed 8-bit integer.</summary>
    I8,
    /// <summary>Unsigned 8-bit integer (also the sparse formats' index and bitmask bytes).</summary>
    U8,
    /// <summary>Signed 16-bit integer.</summary>
    I16,
    /// <summary>Signed 32-bit integer.</summary>
    I32,
    /// <summary>Signed 64-bit integer.</summary>
    I64,
    /// <summary>Boolean, one byte per element (safetensors "BOOL").</summary>
    Bool,
}

/// <summary>Sizes and names of <see cref="DType"/> values.</summary>
public static class DTypes
{
    /// <summary>Bytes of one element.</summary>
    public static int SizeOf(this DType dtype) => dtype switch
    {
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 or DType.I16 => 2,
        DType.F64 or DType.I64 => 8,
        DType.I8 or DType.U8 or DType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>The safetensors header spelling ("F32", "BF16", "BOOL", ...).</summary>
    public static string ToSafetensorsName(this DType dtype) => dtype == DType.Bool ? "BOOL" : dtype.ToString();

    /// <summary>Parses a safetensors dtype string; returns false for one Copal does not know.</summary>
    public static bool TryParseSafetensorsName(string name, out DType dtype)
    {
        switch (name)
        {
            case "F32": dtype = DType.F32; return true;
            case "F16": dtype = DType.F16; return true;
            case "BF16": dtype = DType.BF16; return true;
            case "F64": dtype = DType.F64; return true;
            case "I8": dtype = DType.I8; return true;
            case "U8": dtype = DType.U8; return true;
            case "I16": dtype = DType.I16; return true;
            case "I32": dtype = DType.I32; return true;
            case "I64": dtype = DType.I64; return true;
            case "BOOL": dtype = DType.Bool; return true;
            default: dtype = default; return false;
        }
    }

    /// <summary>True for the dtypes a weight matrix may be stored in (the matmul kernels read these directly).</summary>
    public static bool IsWeightFloat(this DType dtype) => dtype is DType.F32 or DType.F16 or DType.BF16;
}
