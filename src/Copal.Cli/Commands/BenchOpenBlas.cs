using System.Runtime.InteropServices;

namespace Copal.Cli.Commands;

/// <summary>
/// OpenBLAS as the side-by-side peer of <c>copal bench kernels</c>, bound at run time (absent library = no peer
/// column, never an error). Only sgemv/sgemm in the y = x·Wᵀ orientation Copal uses.
/// </summary>
internal static unsafe class BenchOpenBlas
{
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    private static readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> s_sgemm;
    private static readonly delegate* unmanaged<int, int, int, int, float, float*, int, float*, int, float, float*, int, void> s_sgemv;
    private static readonly delegate* unmanaged<int, void> s_setThreads;

    static BenchOpenBlas()
    {
        if (NativeLibrary.TryLoad("libopenblas.so.0", out nint lib) || NativeLibrary.TryLoad("libopenblas", out lib))
        {
            if (NativeLibrary.TryGetExport(lib, "cblas_sgemm", out nint gemm) && NativeLibrary.TryGetExport(lib, "cblas_sgemv", out nint gemv))
            {
                s_sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)gemm;
                s_sgemv = (delegate* unmanaged<int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)gemv;
            }
            if (NativeLibrary.TryGetExport(lib, "openblas_set_num_threads", out nint setThreads))
            {
                s_setThreads = (delegate* unmanaged<int, void>)setThreads;
            }
        }
    }

    public static bool IsAvailable => s_sgemm != null;

    public static void SetThreads(int threads)
    {
        if (s_setThreads != null)
        {
            s_setThreads(threads);
        }
    }

    /// <summary>y[n, out] = x[n, in] · w[out, in]ᵀ.</summary>
    public static void Linear(float* x, int n, float* w, int outFeatures, int inFeatures, float* y)
    {
        if (n == 1)
        {
            s_sgemv(RowMajor, NoTrans, outFeatures, inFeatures, 1f, w, inFeatures, x, 1, 0f, y, 1);
        }
        else
        {
            s_sgemm(RowMajor, NoTrans, Trans, n, outFeatures, inFeatures, 1f, x, inFeatures, w, inFeatures, 0f, y, outFeatures);
        }
    }
}
