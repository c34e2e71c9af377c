using System.Runtime.InteropServices;

namespace Copal.Benchmarks.Kernels;

/// <summary>
/// OpenBLAS as a side-by-side peer, bound at run time so the benchmarks still run (without the peer) where the
/// library is absent. Only the two calls the comparison needs.
/// </summary>
internal static unsafe class OpenBlas
{
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    private static readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> s_sgemm;
    private static readonly delegate* unmanaged<int, int, int, int, float, float*, int, float*, int, float, float*, int, void> s_sgemv;
    private static readonly delegate* unmanaged<int, void> s_setThreads;

    static OpenBlas()
    {
        if (NativeLibrary.TryLoad("libopenblas.so.0", out nint lib) || NativeLibrary.TryLoad("libopenblas", out lib))
        {
            s_sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)NativeLibrary.GetExport(lib, "cblas_sgemm");
            s_sgemv = (delegate* unmanaged<int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)NativeLibrary.GetExport(lib, "cblas_sgemv");
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

    /// <summary>y[n, out] = x[n, in] · w[out, in]ᵀ, the same contract as Copal's MatMul.</summary>
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
