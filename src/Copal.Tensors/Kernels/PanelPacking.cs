using System.Runtime.Intrinsics;
using Copal.Tensors.Safetensors;

namespace Copal.Tensors.Kernels;

/// <summary>
/// Copies a row-major weight into <see cref="WeightLayout.Panels"/>, in this process's memory (huge pages where
/// Linux gives them, as <see cref="PrivateCopy"/>). The CPU backend does this for the weights of a model read into
/// memory (<see cref="WeightResidence.Memory"/>), on machines whose Vector512 is hardware: its decode kernels
/// (<see cref="PanelGemv"/>) are Vector512 code.
/// </summary>
internal static unsafe class PanelPacking
{
    /// <summary>Whether packing pays here: the panel kernels are Vector512 code, emulated (slowly) where it is not hardware.</summary>
    public static bool Worthwhile(int rows, int cols) =>
        Vector512.IsHardwareAccelerated && rows >= WeightMatrix.PanelRows && cols > 0;

    /// <summary>
    /// A copy of <paramref name="source"/> in panels; the caller owns its <see cref="WeightMatrix.Data"/> and frees it
    /// with NativeMemory.AlignedFree. The last panel's missing rows are zeros.
    /// </summary>
    public static WeightMatrix Pack(in WeightMatrix source, CancellationToken cancellationToken = default)
    {
        if (source.IsPanels)
        {
            throw new ArgumentException("the weight is already in panels", nameof(source));
        }
        cancellationToken.ThrowIfCancellationRequested();
        const int R = WeightMatrix.PanelRows;
        byte* data = PrivateCopy.Allocate((long)(source.Rows + R - 1) / R * R * source.Cols * source.ElementSize);
        var panels = new WeightMatrix(data, source.DType, source.Rows, source.Cols, WeightLayout.Panels) { FiniteVerified = source.FiniteVerified };
        RowPartition.For(panels.PanelCount, 0, 1, 1, new PackBody(source, panels));
        return panels;
    }

    private readonly struct PackBody(WeightMatrix source, WeightMatrix panels) : IRangeBody
    {
        public void Run(int start, int end)
        {
            for (int p = start; p < end; p++)
            {
                if (source.ElementSize == 2)
                {
                    PackPanel<ushort>(source, panels, p);
                }
                else
                {
                    PackPanel<uint>(source, panels, p);
                }
            }
        }
    }

    /// <summary>
    /// One panel, written in address order (each column's 32 elements are one line) while its 32 source rows are
    /// read side by side, a line of each reused for the next columns.
    /// </summary>
    private static void PackPanel<T>(in WeightMatrix source, in WeightMatrix panels, int p)
        where T : unmanaged
    {
        const int R = WeightMatrix.PanelRows;
        T* panel = (T*)panels.Panel(p);
        int cols = source.Cols, live = Math.Min(R, source.Rows - p * R);
        T** rows = stackalloc T*[R];
        for (int r = 0; r < live; r++)
        {
            rows[r] = (T*)source.Row(p * R + r);
        }
        for (int k = 0; k < cols; k++)
        {
            T* line = panel + (long)k * R;
            int r = 0;
            for (; r < live; r++)
            {
                line[r] = rows[r][k];
            }
            for (; r < R; r++)
            {
                line[r] = default;
            }
        }
    }
}
