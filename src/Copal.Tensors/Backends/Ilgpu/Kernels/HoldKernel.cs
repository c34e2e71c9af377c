using ILGPU;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>
/// Keeps the device busy for a chosen time, so the ops queued behind it reach the device back to back and queue
/// markers around them time the device alone (<see cref="IDeviceTimer"/>). One thread runs a chain of dependent
/// multiply-adds; its coefficients are arguments, so the compiler cannot fold the loop away.
/// </summary>
internal static class HoldKernel
{
    public static void Hold(Index1D index, ArrayView<float> sink, int steps, float a, float b)
    {
        float x = sink[index];
        for (int i = 0; i < steps; i++)
        {
            x = (x * a) + b;
        }
        sink[index] = x;
    }
}
