namespace Copal.Tensors.Backends;

/// <summary>A weight matrix [Rows = out, Cols = in] in its stored dtype, ready for one backend's MatMul.</summary>
public abstract class DeviceWeight : IDisposable
{
    protected DeviceWeight(string name, DType dtype, int rows, int cols)
    {
        Name = name;
        DType = dtype;
        Rows = rows;
        Cols = cols;
    }

    /// <summary>The tensor's name in its checkpoint, for error messages.</summary>
    public string Name { get; }
    public DType DType { get; }
    /// <summary>Output features.</summary>
    public int Rows { get; }
    /// <summary>Input features.</summary>
    public int Cols { get; }

    /// <summary>Bytes one product streams: the dense size, or the compressed size of a sparse weight.</summary>
    public virtual long StoredBytes => (long)Rows * Cols * DType.SizeOf();

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

    protected abstract void Release();
}
