namespace Copal.Tensors.Backends;

/// <summary>A buffer of f32 elements owned by one backend. Dispose frees it.</summary>
public abstract class DeviceBuffer : IDisposable
{
    /// <summary>A buffer of <paramref name="length"/> f32 elements; backends make them (<see cref="IBackend.Allocate"/>).</summary>
    protected DeviceBuffer(long length) => Length = length;

    /// <summary>Number of f32 elements.</summary>
    public long Length { get; }

    /// <summary>True once <see cref="Dispose"/> has run; the buffer must not be passed to an op then.</summary>
    public bool IsDisposed { get; private set; }

    /// <summary>Frees the memory (<see cref="Release"/>, once); disposing again does nothing.</summary>
    public void Dispose()
    {
        if (!IsDisposed)
        {
            IsDisposed = true;
            Release();
            GC.SuppressFinalize(this);
        }
    }

    /// <summary>Frees the memory; called once.</summary>
    protected abstract void Release();
}
