using System.Numerics;
using Copal.Tensors.Backends.Cuda.Interop;
using Copal.Tensors.Backends.Gpu;

namespace Copal.Tensors.Backends.Cuda;

/// <summary>
/// <see cref="IBackend"/> on a CUDA device through the driver API: the device's primary context, one stream, and
/// the shared kernel sources compiled by NVRTC for the device's compute capability. Every call makes the context
/// current on the calling thread first, so the backend can be used from any thread.
/// </summary>
public sealed unsafe class CudaBackend : GpuBackend
{
    private readonly CudaApi _api;
    private readonly CudaDevice _device;
    private readonly nint _context;
    private readonly nint _stream;
    private readonly nint _module;
    private readonly nint[] _functions;
    private CudaMemoryHandle? _tokens;
    private long _tokenCapacity;
    private bool _disposed;

    /// <summary>Opens CUDA device <paramref name="deviceIndex"/> and compiles the kernels for it.</summary>
    public CudaBackend(int deviceIndex = 0, Action<string>? log = null)
    {
        Log = log;
        _api = CudaApi.Require();
        NvrtcApi nvrtc = NvrtcApi.Require();
        (IReadOnlyList<CudaDevice> devices, string? error) = CudaDevice.Probe();
        if ((uint)deviceIndex >= (uint)devices.Count)
        {
            throw new CudaException($"CUDA device {deviceIndex} does not exist; found {Describe(devices, error)}");
        }
        _device = devices[deviceIndex];

        nint context;
        _api.ThrowIfFailed(_api.cuDevicePrimaryCtxRetain(&context, _device.Handle));
        _context = context;
        try
        {
            Bind();
            nint stream;
            _api.ThrowIfFailed(_api.cuStreamCreate(&stream, 0));
            _stream = stream;
            byte[] ptx = CudaModule.CompileToPtx(nvrtc, _device, KernelSource.Cuda);
            (_module, _functions) = CudaModule.Load(_api, ptx);
        }
        catch
        {
            if (_stream != 0)
            {
                _api.cuStreamDestroy_v2(_stream);
            }
            _api.cuDevicePrimaryCtxRelease_v2(_device.Handle);
            throw;
        }
        Info = new BackendInfo("cuda", _device.Name, _device.MemoryBytes, _device.Multiprocessors);
    }

    public override BackendInfo Info { get; }

    /// <summary>The CUDA driver version, such as "12.4".</summary>
    public string DriverVersion => _device.DriverVersionText;

    /// <summary>The device's compute capability, such as (9, 0) for an H100.</summary>
    public (int Major, int Minor) ComputeCapability => (_device.ComputeMajor, _device.ComputeMinor);

    internal static string Describe(IReadOnlyList<CudaDevice> devices, string? error) => devices.Count == 0
        ? "no CUDA devices" + (error is null ? "" : $" ({error})")
        : string.Join("; ", devices.Select(d => $"cuda:{d.Index} {d.Name} (compute {d.ComputeMajor}.{d.ComputeMinor})"));

    public override DeviceBuffer Allocate(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        CudaMemoryHandle memory = AllocateBytes(Math.Max(length, 1) * sizeof(float), "Allocate");
        _api.ThrowIfFailed(_api.cuMemsetD32Async(memory.Pointer, 0, (nuint)Math.Max(length, 1), _stream));
        return new CudaBuffer(this, memory, length);
    }

    public override void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long destinationOffset = 0)
    {
        CudaBuffer buffer = Own(destination, "Upload", nameof(destination));
        CheckRange(buffer, destinationOffset, source.Length, "Upload");
        if (source.IsEmpty)
        {
            return;
        }
        Bind();
        // From pageable memory the driver stages the data before returning, so unpinning afterwards is safe.
        fixed (float* s = source)
        {
            _api.ThrowIfFailed(_api.cuMemcpyHtoDAsync_v2(buffer.Memory.Pointer + (ulong)(destinationOffset * sizeof(float)), s,
                (nuint)(source.Length * sizeof(float)), _stream));
        }
    }

    public override void Download(DeviceBuffer source, Span<float> destination, long sourceOffset = 0)
    {
        CudaBuffer buffer = Own(source, "Download", nameof(source));
        CheckRange(buffer, sourceOffset, destination.Length, "Download");
        if (destination.IsEmpty)
        {
            return;
        }
        Bind();
        fixed (float* d = destination)
        {
            _api.ThrowIfFailed(_api.cuMemcpyDtoHAsync_v2(d, buffer.Memory.Pointer + (ulong)(sourceOffset * sizeof(float)),
                (nuint)(destination.Length * sizeof(float)), _stream));
            _api.ThrowIfFailed(_api.cuStreamSynchronize(_stream));
        }
    }

    public override void Synchronize()
    {
        Bind();
        _api.ThrowIfFailed(_api.cuStreamSynchronize(_stream));
    }

    private protected override DeviceWeight CreateWeight(TensorView view, int rows, int cols)
    {
        CudaMemoryHandle memory = AllocateBytes(view.ByteLength, $"LoadWeight('{view.Name}')");
        _api.ThrowIfFailed(_api.cuMemcpyHtoDAsync_v2(memory.Pointer, view.Data, (nuint)view.ByteLength, _stream));
        // The view's memory may go away once LoadWeight returns.
        _api.ThrowIfFailed(_api.cuStreamSynchronize(_stream));
        return new CudaWeight(this, memory, view.Name, view.DType, rows, cols);
    }

    private protected override KernelArg ArgOf(DeviceBuffer buffer, string op, string name) =>
        KernelArg.Pointer(Own(buffer, op, name).Memory.Pointer);

    private protected override KernelArg ArgOf(DeviceWeight weight, string op)
    {
        if (weight is not CudaWeight own || own.Owner != this)
        {
            throw new ArgumentException($"{op}: weight '{weight.Name}' was not loaded by this CUDA backend", nameof(weight));
        }
        ObjectDisposedException.ThrowIf(own.IsDisposed, own);
        return KernelArg.Pointer(own.Memory.Pointer);
    }

    private protected override KernelArg UploadTokens(ReadOnlySpan<int> tokens)
    {
        Bind();
        if (_tokens is null || _tokenCapacity < tokens.Length)
        {
            // Kernels queued earlier may still read the old scratch: wait before freeing it.
            if (_tokens is not null)
            {
                _api.ThrowIfFailed(_api.cuStreamSynchronize(_stream));
                _tokens.Dispose();
            }
            _tokenCapacity = Math.Max(64, (long)BitOperations.RoundUpToPowerOf2((uint)tokens.Length));
            _tokens = AllocateBytes(_tokenCapacity * sizeof(int), "Embedding tokens");
        }
        fixed (int* t = tokens)
        {
            _api.ThrowIfFailed(_api.cuMemcpyHtoDAsync_v2(_tokens.Pointer, t, (nuint)(tokens.Length * sizeof(int)), _stream));
        }
        return KernelArg.Pointer(_tokens.Pointer);
    }

    private protected override void CopyBetween(DeviceBuffer source, long sourceOffset, DeviceBuffer destination, long destinationOffset, long count)
    {
        Bind();
        _api.ThrowIfFailed(_api.cuMemcpyDtoDAsync_v2(
            Own(destination, "Copy", nameof(destination)).Memory.Pointer + (ulong)(destinationOffset * sizeof(float)),
            Own(source, "Copy", nameof(source)).Memory.Pointer + (ulong)(sourceOffset * sizeof(float)),
            (nuint)(count * sizeof(float)), _stream));
    }

    /// <summary>
    /// cuLaunchKernel takes the arguments as an array of pointers, one per parameter, each to that parameter's
    /// value: every value gets an 8-byte slot (an int or float uses its low 4 bytes, little-endian).
    /// </summary>
    private protected override void Launch(KernelId kernel, LaunchShape shape, ReadOnlySpan<KernelArg> args)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Bind();
        ulong* values = stackalloc ulong[args.Length];
        void** pointers = stackalloc void*[args.Length];
        for (int i = 0; i < args.Length; i++)
        {
            values[i] = args[i].Bits;
            pointers[i] = &values[i];
        }
        int result = _api.cuLaunchKernel(_functions[(int)kernel], (uint)shape.GroupsX, (uint)shape.GroupsY, 1,
            (uint)shape.LocalX, (uint)shape.LocalY, 1, 0, _stream, pointers, null);
        if (result != CudaConstants.Success)
        {
            throw new CudaException($"cuLaunchKernel({KernelNames.Of(kernel)}, {shape})", result, _api.ErrorName(result), null);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        // Statuses are ignored: disposal must not throw.
        _api.cuCtxSetCurrent(_context);
        _api.cuStreamSynchronize(_stream);
        if (disposing)
        {
            _tokens?.Dispose();
        }
        _api.cuModuleUnload(_module);
        _api.cuStreamDestroy_v2(_stream);
        _api.cuDevicePrimaryCtxRelease_v2(_device.Handle);
    }

    private void Bind() => _api.ThrowIfFailed(_api.cuCtxSetCurrent(_context));

    private CudaMemoryHandle AllocateBytes(long bytes, string what)
    {
        Bind();
        ulong pointer;
        int result = _api.cuMemAlloc_v2(&pointer, (nuint)bytes);
        if (result != CudaConstants.Success)
        {
            throw new CudaException($"cuMemAlloc_v2({what}, {bytes} bytes)", result, _api.ErrorName(result), null);
        }
        return new CudaMemoryHandle(pointer, _context);
    }

    private CudaBuffer Own(DeviceBuffer buffer, string op, string name)
    {
        ArgumentNullException.ThrowIfNull(buffer, name);
        if (buffer is not CudaBuffer own || own.Owner != this)
        {
            throw new ArgumentException($"{op}: {name} was not allocated by this CUDA backend", name);
        }
        ObjectDisposedException.ThrowIf(own.IsDisposed, own);
        return own;
    }

}
