namespace Copal.Tensors.Backends;

/// <summary>
/// A backend that can hold a weight in its own memory, in the layout its kernels read fastest, rather than as a
/// view of the checkpoint: what a model read into memory (<see cref="Safetensors.WeightResidence.Memory"/>) loads
/// its dense weights through. The checkpoint itself then stays mapped, and is not copied a second time.
/// </summary>
public interface IWeightCopier
{
    /// <summary>A copy of the 2-D weight <paramref name="view"/> that no longer needs the view's memory.</summary>
    DeviceWeight LoadWeightCopy(TensorView view, CancellationToken cancellationToken = default);
}
