namespace Copal.Tensors.Backends;

/// <summary>A buffer of f32 elements owned by one backend. Dispose frees it.</summary>
public abstract class DeviceBuffer : IDisposable
{
    protected DeviceBuffer(long length) => Length = length;

    /// <summary>Number of f32 elements.</summary>
    public long Length { get; }

    public bool IsDisposed { get; private set; }

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
