namespace Copal.Tensors.Backends.Cuda;

/// <summary>A CUDA driver or NVRTC call failed, or CUDA is unusable. The message names the call and the error.</summary>
public sealed class CudaException : Exception
{
    public CudaException(string message)
        : base(message)
    {
    }

    public CudaException(string message, Exception inner)
        : base(message, inner)
    {
    }

    internal CudaException(string call, int result, string errorName, string? detail)
        : base($"{CallName(call)} failed with {errorName} ({result}){(detail is null ? "" : ": " + detail)}")
    {
        Call = CallName(call);
        Result = result;
        ErrorName = errorName;
    }

    /// <summary>The failing call, when a call failed.</summary>
    public string? Call { get; }

    /// <summary>The CUresult or nvrtcResult, 0 when no call failed.</summary>
    public int Result { get; }

    /// <summary>The driver's name of the result, such as CUDA_ERROR_OUT_OF_MEMORY.</summary>
    public string? ErrorName { get; }

    /// <summary>"cuMemAlloc_v2" from "_api.cuMemAlloc_v2(&amp;pointer, bytes)".</summary>
    private static string CallName(string expression)
    {
        // An explicit name such as "clCreateKernel(gemv_f32)" is kept; a captured expression is cut to its method.
        int paren = expression.IndexOf('(', StringComparison.Ordinal);
        string head = paren < 0 ? expression : expression[..paren];
        int dot = head.LastIndexOf('.');
        return dot < 0 ? expression.Trim() : head[(dot + 1)..].Trim();
    }
}
