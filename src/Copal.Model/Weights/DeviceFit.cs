using Copal.Tensors;
using Copal.Tensors.Backends;

namespace Copal.Model.Weights;

/// <summary>
/// Whether a checkpoint's weights can fit in a device's memory at all, asked before the first one is uploaded: a
/// model several times the device's size would otherwise fail, minutes into its upload, on whichever tensor ran out.
/// </summary>
internal static class DeviceFit
{
    /// <summary>
    /// Throws <see cref="DeviceOutOfMemoryException"/> when the tensors' stored bytes (what a device backend holds:
    /// weights in their stored dtype, compact ones compressed) exceed the device's memory. The CPU maps or copies
    /// weights into host memory, which its own policy governs, so it is not asked. A load that converts dense weights
    /// to sparse (<c>--sparse force</c>) may hold less than the files, so the model loader does not ask then.
    /// </summary>
    public static void Require(IBackend backend, IEnumerable<TensorView> tensors, string source)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(tensors);
        if (backend.Info.Kind == "cpu")
        {
            return;
        }
        long bytes = tensors.Sum(t => t.ByteLength), memory = backend.Info.MemoryBytes;
        if (bytes > memory)
        {
            throw new DeviceOutOfMemoryException(
                $"{source}: the weights take {ByteSize.Format(bytes)}, more than the {ByteSize.Format(memory)} of {backend.Info.Kind} device '{backend.Info.DeviceName}'")
            {
                Remedy = DeviceOutOfMemoryException.WeightsRemedy,
            };
        }
    }
}
