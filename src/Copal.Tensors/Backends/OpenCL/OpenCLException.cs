using Copal.Tensors.Backends.OpenCL.Interop;

namespace Copal.Tensors.Backends.OpenCL;

/// <summary>An OpenCL call failed, or OpenCL is unusable. The message names the call and the CL error.</summary>
public sealed class OpenCLException : Exception
{
    public OpenCLException(string message)
        : base(message)
    {
    }

    public OpenCLException(string message, Exception inner)
        : base(message, inner)
    {
    }

    internal OpenCLException(string call, int status, string? detail = null)
        : base($"{CallName(call)} failed with {OpenCLErrors.Name(status)} ({status}){(detail is null ? "" : ": " + detail)}")
    {
        Call = CallName(call);
        Status = status;
    }

    /// <summary>The failing call as written at the call site, when a call failed.</summary>
    public string? Call { get; }

    /// <summary>"clBuildProgram" from "api.clBuildProgram(program, 1, &amp;device, ...)".</summary>
    private static string CallName(string expression)
    {
        // An explicit name such as "clCreateKernel(gemv_f32)" is kept; a captured expression is cut to its method.
        int paren = expression.IndexOf('(', StringComparison.Ordinal);
        string head = paren < 0 ? expression : expression[..paren];
        int dot = head.LastIndexOf('.');
        return dot < 0 ? expression.Trim() : head[(dot + 1)..].Trim();
    }

    /// <summary>The OpenCL status code (negative), or 0 when no call failed.</summary>
    public int Status { get; }
}
