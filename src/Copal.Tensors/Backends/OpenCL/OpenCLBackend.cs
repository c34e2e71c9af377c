using System.Numerics;
using System.Text;
using Copal.Tensors.Backends.Gpu;
using Copal.Tensors.Backends.OpenCL.Interop;

namespace Copal.Tensors.Backends.OpenCL;

/// <summary>
/// <see cref="IBackend"/> on an OpenCL 1.2 device: one context, one in-order queue, the shared kernels compiled
/// once per device (and cached on disk). Device indices count the devices of all platforms together.
/// </summary>
public sealed unsafe class OpenCLBackend : GpuBackend
{
    private readonly OpenCLApi _api;
    private readonly OpenCLDevice _device;
    private readonly OpenCLContextHandle _context;
    private readonly OpenCLQueueHandle _queue;
    private readonly OpenCLProgramHandle _program;
    private readonly OpenCLKernelHandle[] _kernels;
    private readonly Lock _launchLock = new();   // clSetKernelArg + enqueue must not interleave between threads
    private OpenCLMemHandle? _tokens;
    private long _tokenCapacity;
    private bool _disposed;

    /// <summary>Opens device <paramref name="deviceIndex"/> and compiles (or loads cached) kernels for it.</summary>
    public OpenCLBackend(int deviceIndex = 0, Action<string>? log = null)
        : this(deviceIndex, log, OpenCLProgramCache.DefaultDirectory())
    {
    }

    /// <param name="deviceIndex">Index over the devices of all platforms.</param>
    /// <param name="log">Receives cache and fallback notices.</param>
    /// <param name="cacheDirectory">Where program binaries are cached; null for no disk cache.</param>
    internal OpenCLBackend(int deviceIndex, Action<string>? log, string? cacheDirectory)
    {
        Log = log;
        _api = OpenCLApi.Require();
        IReadOnlyList<OpenCLDevice> devices = OpenCLDevice.Enumerate();
        if ((uint)deviceIndex >= (uint)devices.Count)
        {
            throw new OpenCLException($"OpenCL device {deviceIndex} does not exist; found {Describe(devices)}");
        }
        _device = devices[deviceIndex];
        if (_device.MaxWorkGroupSize < LaunchShape.GroupSize)
        {
            throw new OpenCLException(
                $"OpenCL device '{_device.Name}' allows work-groups of {_device.MaxWorkGroupSize} threads; the kernels need {LaunchShape.GroupSize}");
        }

        int status;
        nint device = _device.Device;
        nint* properties = stackalloc nint[] { 0x1084 /* CL_CONTEXT_PLATFORM */, _device.Platform, 0 };
        _context = new OpenCLContextHandle(_api.clCreateContext(properties, 1, &device, 0, 0, &status));
        OpenCLApi.ThrowIfFailed(status, "clCreateContext");
        _queue = new OpenCLQueueHandle(_api.clCreateCommandQueue(_context.Value, device, 0, &status));
        OpenCLApi.ThrowIfFailed(status, "clCreateCommandQueue");

        OpenCLProgramCache? cache = cacheDirectory is null ? null : new OpenCLProgramCache(cacheDirectory);
        _program = OpenCLProgram.Build(_api, _context, _device, KernelSource.OpenCL, cache, Log);
        _kernels = new OpenCLKernelHandle[KernelNames.All.Length];
        for (int i = 0; i < _kernels.Length; i++)
        {
            byte[] name = Encoding.ASCII.GetBytes(KernelNames.All[i] + "\0");
            fixed (byte* n = name)
            {
                _kernels[i] = new OpenCLKernelHandle(_api.clCreateKernel(_program.Value, n, &status));
            }
            OpenCLApi.ThrowIfFailed(status, $"clCreateKernel({KernelNames.All[i]})");
        }
        Info = new BackendInfo("opencl", _device.Name, _device.MemoryBytes, _device.ComputeUnits);
    }

    public override BackendInfo Info { get; }

    /// <summary>The context, for tests that build programs of their own.</summary>
    internal OpenCLContextHandle Context => _context;

    /// <summary>The device's OpenCL driver version string.</summary>
    public string DriverVersion => _device.DriverVersion;

    internal static string Describe(IReadOnlyList<OpenCLDevice> devices) => devices.Count == 0
        ? "no OpenCL devices" + (OpenCLApi.LoadError is { } error ? $" ({error})" : "")
        : string.Join("; ", devices.Select(d => $"opencl:{d.Index} {d.Name} ({d.TypeName}, {d.PlatformName})"));

    public override DeviceBuffer Allocate(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        OpenCLMemHandle memory = CreateMemory(Math.Max(length, 1) * sizeof(float), OpenCLConstants.MemReadWrite, null, "Allocate");
        float zero = 0;
        OpenCLApi.ThrowIfFailed(_api.clEnqueueFillBuffer(_queue.Value, memory.Value, &zero, sizeof(float), 0,
            (nuint)(Math.Max(length, 1) * sizeof(float)), 0, null, null));
        return new OpenCLBuffer(this, memory, length);
    }

    public override void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long destinationOffset = 0)
    {
        OpenCLBuffer buffer = Own(destination, "Upload", nameof(destination));
        CheckRange(buffer, destinationOffset, source.Length, "Upload");
        if (source.IsEmpty)
        {
            return;
        }
        // Blocking: the span is pinned only for this call.
        fixed (float* s = source)
        {
            OpenCLApi.ThrowIfFailed(_api.clEnqueueWriteBuffer(_queue.Value, buffer.Memory.Value, OpenCLConstants.True,
                (nuint)(destinationOffset * sizeof(float)), (nuint)(source.Length * sizeof(float)), s, 0, null, null));
        }
    }

    public override void Download(DeviceBuffer source, Span<float> destination, long sourceOffset = 0)
    {
        OpenCLBuffer buffer = Own(source, "Download", nameof(source));
        CheckRange(buffer, sourceOffset, destination.Length, "Download");
        if (destination.IsEmpty)
        {
            return;
        }
        // A blocking read on an in-order queue runs after all work enqueued before it.
        fixed (float* d = destination)
        {
            OpenCLApi.ThrowIfFailed(_api.clEnqueueReadBuffer(_queue.Value, buffer.Memory.Value, OpenCLConstants.True,
                (nuint)(sourceOffset * sizeof(float)), (nuint)(destination.Length * sizeof(float)), d, 0, null, null));
        }
    }

    public override void Synchronize() => OpenCLApi.ThrowIfFailed(_api.clFinish(_queue.Value));

    private protected override DeviceWeight CreateWeight(TensorView view, int rows, int cols)
    {
        OpenCLMemHandle memory = CreateMemory(view.ByteLength, OpenCLConstants.MemReadOnly | OpenCLConstants.MemCopyHostPtr, view.Data,
            $"LoadWeight('{view.Name}')");
        return new OpenCLWeight(this, memory, view.Name, view.DType, rows, cols);
    }

    private protected override KernelArg ArgOf(DeviceBuffer buffer, string op, string name) =>
        KernelArg.Pointer((ulong)Own(buffer, op, name).Memory.Value);

    private protected override KernelArg ArgOf(DeviceWeight weight, string op)
    {
        if (weight is not OpenCLWeight own || own.Owner != this)
        {
            throw new ArgumentException($"{op}: weight '{weight.Name}' was not loaded by this OpenCL backend", nameof(weight));
        }
        ObjectDisposedException.ThrowIf(own.IsDisposed, own);
        return KernelArg.Pointer((ulong)own.Memory.Value);
    }

    private protected override KernelArg UploadTokens(ReadOnlySpan<int> tokens)
    {
        if (_tokens is null || _tokenCapacity < tokens.Length)
        {
            // Releasing the old scratch is safe: OpenCL keeps a buffer alive until queued commands using it finish.
            _tokens?.Dispose();
            _tokenCapacity = Math.Max(64, (long)BitOperations.RoundUpToPowerOf2((uint)tokens.Length));
            _tokens = CreateMemory(_tokenCapacity * sizeof(int), OpenCLConstants.MemReadOnly, null, "Embedding tokens");
        }
        fixed (int* t = tokens)
        {
            OpenCLApi.ThrowIfFailed(_api.clEnqueueWriteBuffer(_queue.Value, _tokens.Value, OpenCLConstants.True, 0,
                (nuint)(tokens.Length * sizeof(int)), t, 0, null, null));
        }
        return KernelArg.Pointer((ulong)_tokens.Value);
    }

    private protected override void CopyBetween(DeviceBuffer source, long sourceOffset, DeviceBuffer destination, long destinationOffset, long count) =>
        OpenCLApi.ThrowIfFailed(_api.clEnqueueCopyBuffer(_queue.Value, Own(source, "Copy", nameof(source)).Memory.Value,
            Own(destination, "Copy", nameof(destination)).Memory.Value, (nuint)(sourceOffset * sizeof(float)),
            (nuint)(destinationOffset * sizeof(float)), (nuint)(count * sizeof(float)), 0, null, null));

    private protected override void Launch(KernelId kernel, LaunchShape shape, ReadOnlySpan<KernelArg> args)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        nint handle = _kernels[(int)kernel].Value;
        nuint* global = stackalloc nuint[] { (nuint)shape.GroupsX * (nuint)shape.LocalX, (nuint)shape.GroupsY * (nuint)shape.LocalY };
        nuint* local = stackalloc nuint[] { (nuint)shape.LocalX, (nuint)shape.LocalY };
        lock (_launchLock)
        {
            for (int i = 0; i < args.Length; i++)
            {
                ulong bits = args[i].Bits;
                int status = _api.clSetKernelArg(handle, (uint)i, (nuint)args[i].Size, &bits);
                if (status != OpenCLConstants.Success)
                {
                    throw new OpenCLException($"clSetKernelArg({KernelNames.Of(kernel)}, {i})", status);
                }
            }
            int launch = _api.clEnqueueNDRangeKernel(_queue.Value, handle, 2, null, global, local, 0, null, null);
            if (launch != OpenCLConstants.Success)
            {
                throw new OpenCLException($"clEnqueueNDRangeKernel({KernelNames.Of(kernel)}, {shape})", launch);
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (disposing)
        {
            _api.clFinish(_queue.Value);   // status ignored: disposal must not throw
            _tokens?.Dispose();
            foreach (OpenCLKernelHandle kernel in _kernels)
            {
                kernel.Dispose();
            }
            _program.Dispose();
            _queue.Dispose();
            _context.Dispose();
        }
    }

    private OpenCLMemHandle CreateMemory(long bytes, ulong flags, void* host, string what)
    {
        if (bytes > _device.MaxAllocationBytes)
        {
            throw new OpenCLException(
                $"{what}: {bytes} bytes exceed the largest single allocation of '{_device.Name}', {_device.MaxAllocationBytes} bytes");
        }
        int status;
        nint memory = _api.clCreateBuffer(_context.Value, flags, (nuint)bytes, host, &status);
        if (status != OpenCLConstants.Success)
        {
            throw new OpenCLException($"clCreateBuffer({what}, {bytes} bytes)", status);
        }
        return new OpenCLMemHandle(memory);
    }

    private OpenCLBuffer Own(DeviceBuffer buffer, string op, string name)
    {
        ArgumentNullException.ThrowIfNull(buffer, name);
        if (buffer is not OpenCLBuffer own || own.Owner != this)
        {
            throw new ArgumentException($"{op}: {name} was not allocated by this OpenCL backend", name);
        }
        ObjectDisposedException.ThrowIf(own.IsDisposed, own);
        return own;
    }

}
