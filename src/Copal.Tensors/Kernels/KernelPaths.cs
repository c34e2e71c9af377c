using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>
/// Which SIMD width the matrix kernels use. Defaults to the widest the hardware accelerates; tests switch the
/// Vector512 paths off to run the Vector256 ones on an AVX-512 machine (both must match the scalar reference).
/// </summary>
internal static class KernelPaths
{
    /// <summary>Use the Vector512 GEMV and GEMM paths.</summary>
    public static bool UseVector512 { get; set; } = Vector512.IsHardwareAccelerated;
}
