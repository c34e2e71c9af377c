namespace Copal.Tensors.Backends.Gpu;

/// <summary>The entry points of the kernel sources, in the order <see cref="KernelNames.All"/> lists their names.</summary>
internal enum KernelId
{
    GemvF32,
    GemvF16,
    GemvBf16,
    GemmF32,
    GemmF16,
    GemmBf16,
    AddBias,
    SiluMul,
    Add,
    Copy,
    EmbeddingF32,
    EmbeddingF16,
    EmbeddingBf16,
    RmsNorm,
    Softmax,
    Rope,
    Attention,
    GramAccumulate,
    ColumnSquares,
    SpmmNMF32,
    SpmmNMBf16,
    SpmmBitmaskF32,
    SpmmBitmaskBf16,
}

/// <summary>Entry-point names as written in the kernel sources (<c>KERNEL void name(</c>).</summary>
internal static class KernelNames
{
    /// <summary>Indexed by <see cref="KernelId"/>.</summary>
    public static readonly string[] All =
    [
        "gemv_f32", "gemv_f16", "gemv_bf16",
        "gemm_f32", "gemm_f16", "gemm_bf16",
        "add_bias", "silu_mul", "add", "copy_f32",
        "embedding_f32", "embedding_f16", "embedding_bf16",
        "rms_norm", "softmax", "rope", "attention",
        "gram_accumulate", "column_squares",
        "spmm_nm_f32", "spmm_nm_bf16", "spmm_bitmask_f32", "spmm_bitmask_bf16",
    ];

    public static string Of(KernelId id) => All[(int)id];

    /// <summary>The GEMV (rows = 1), GEMM or embedding kernel for a weight's stored dtype.</summary>
    public static KernelId ForWeight(KernelId f32Kernel, DType dtype) => dtype switch
    {
        DType.F32 => f32Kernel,
        DType.F16 => f32Kernel + 1,
        DType.BF16 => f32Kernel + 2,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "weights are stored as F32, F16 or BF16"),
    };
}
