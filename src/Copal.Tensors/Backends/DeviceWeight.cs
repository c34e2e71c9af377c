namespace Copal.Tensors.Backends;

/// <summary>A weight matrix [Rows = out, Cols = in] in its stored dtype, ready for one backend's MatMul.</summary>
public abstract class DeviceWeight : IDisposable
{
    /// <summary>A weight named <paramref name="name"/> of <paramref name="rows"/> outputs and <paramref name="cols"/> inputs, stored as <paramref name="dtype"/>.</summary>
    protected DeviceWeight(string name, DType dtype, int rows, int cols)
    {
        Name = name;
        DType = dtype;
        Rows = rows;
        Cols = cols;
    }

    /// <summary>The tensor's name in its checkpoint, for error messages.</summary>
    public string Name { get; }
    /// <summary>The dtype the weight is stored in (F32, F16 or BF16), as in the checkpoint.</summary>
    public DType DType { get; }
    /// <summary>Output features.</summary>
    public int Rows { get; }
    /// <summary>Input features.</summary>
    public int Cols { get; }

    /// <summary>Bytes one product streams: the dense size, or the compressed size of a sparse weight.</summary>
    public virtual long StoredBytes => (long)Rows * Cols * DType.SizeOf();

    /// <summary>True once <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed { get; private set; }

    /// <summary>Frees what the weight owns (<see cref="Release"/>, once); disposing again does nothing.</summary>
    public void Dispose()
    {
        if (!IsDisposed)
        {
            IsDisposed = true;
            Release();
            GC.SuppressFinalize(this);
        }
    }

    /// <summary>Frees the memory the weight owns; memory it only views stays its owner's. Called once.</summary>
    protected abstract void Release();
}
