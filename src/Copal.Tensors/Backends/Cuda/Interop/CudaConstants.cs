namespace Copal.Tensors.Backends.Cuda.Interop;

/// <summary>The values from cuda.h and nvrtc.h that Copal passes or reads.</summary>
internal static class CudaConstants
{
    public const int Success = 0;
    public const int ErrorNoDevice = 100;
    public const int ErrorUnsupportedPtxVersion = 222;

    public const int AttributeMultiprocessorCount = 16;
    public const int AttributeComputeCapabilityMajor = 75;
    public const int AttributeComputeCapabilityMinor = 76;

    public const int NvrtcSuccess = 0;
}
