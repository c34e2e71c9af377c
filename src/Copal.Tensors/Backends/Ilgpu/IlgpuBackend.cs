using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using Copal.Tensors.Backends.Cpu;

namespace Copal.Tensors.Backends.Ilgpu;

/// <summary>
/// <see cref="IBackend"/> on an ILGPU accelerator: CUDA, OpenCL (devices with OpenCL C 2.0's generic address space),
/// or ILGPU's CPU accelerator for debugging and tests. One set of C# kernels (<c>Kernels/</c>) serves them all; they
/// are compiled once, when the backend is created. Everything runs in order on the accelerator's default stream.
/// This file holds memory and transfers; the ops are in <c>IlgpuBackend.Ops.cs</c> and <c>IlgpuBackend.Sparse.cs</c>.
/// </summary>
public sealed partial class IlgpuBackend : IPartialBackend
{
    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly AcceleratorStream _stream;
    private readonly KernelSet _kernels;
    private readonly LaunchPlan _plan;
    private readonly HashSet<BackendOp> _disabled = [];
    private MemoryBuffer1D<int, Stride1D.Dense>? _tokens;
    private MemoryBuffer1D<float, Stride1D.Dense>? _attentionScratch;
    private bool _disposed;

    /// <summary>Takes ownership of <paramref name="context"/> and creates an accelerator on <paramref name="device"/>.</summary>
    internal IlgpuBackend(Context context, Device device, string kind, int? cpuThreadsPerGroup = null)
    {
        _context = context;
        try
        {
            _accelerator = device.CreateAccelerator(context);
            _stream = _accelerator.DefaultStream;
            _plan = LaunchPlan.For(_accelerator, cpuThreadsPerGroup);
            _kernels = new KernelSet(_accelerator, _plan);
            HostFit = _accelerator.AcceleratorType == AcceleratorType.CPU ? new HostBufferFit() : null;
        }
        catch
        {
            _accelerator?.Dispose();
            context.Dispose();
            throw;
        }
        Info = new BackendInfo(kind, device.Name, IlgpuDevice.MemoryBytes(device), device.NumMultiprocessors, IlgpuDevice.NominalMemoryRate(device),
            MaxAttentionHeadDim);
    }

    /// <inheritdoc/>
    public BackendInfo Info { get; }

    /// <inheritdoc/>
    /// <remarks>Every weight is uploaded to the accelerator's memory, and the upload waits until it is there.</remarks>
    public bool CopiesWeightsAtLoad => true;

    /// <inheritdoc/>
    public Action<string>? Log { get; set; }

    /// <summary>
    /// On ILGPU's CPU accelerator the device's memory is this process's: ILGPU's allocation succeeds past what the
    /// host has (Linux overcommits), and zeroing the buffer then gets the process ended by the out-of-memory killer
    /// with no message. So there every allocation is first checked against the host memory available, as the
    /// <c>cpu</c> backend checks its buffers. Null on a GPU, whose driver refuses what it cannot hold.
    /// </summary>
    internal HostBufferFit? HostFit { get; set; }

    /// <summary>The group sizes this backend launches with (tests check both the GPU and the CPU shapes).</summary>
    internal LaunchPlan Plan => _plan;

    /// <summary>The accelerator's warp (lanes that shuffle together); tests check the GPU-shaped CPU one.</summary>
    internal int WarpSize => _accelerator.WarpSize;

    /// <summary>
    /// Makes this backend report <paramref name="op"/> as missing, so the CPU fallback runs it: tests use it to
    /// exercise <see cref="CpuFallbackBackend"/> on a real accelerator.
    /// </summary>
    internal void Disable(BackendOp op) => _disabled.Add(op);

    /// <inheritdoc/>
    public bool Supports(BackendOp op) => !_disabled.Contains(op);

    /// <inheritdoc/>
    public DeviceBuffer Allocate(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ObjectDisposedException.ThrowIf(_disposed, this);
        MemoryBuffer1D<float, Stride1D.Dense> memory = AllocateOnDevice<float>(Math.Max(length, 1), $"a buffer of {length} floats");
        memory.View.MemSetToZero(_stream);
        return new IlgpuBuffer(this, memory, length);
    }

    /// <inheritdoc/>
    public void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long destinationOffset = 0)
    {
        IlgpuBuffer buffer = Own(destination, "Upload", nameof(destination));
        CheckRange(buffer, destinationOffset, source.Length, "Upload");
        if (!source.IsEmpty)
        {
            buffer.View.SubView(destinationOffset, source.Length).CopyFromCPU(_stream, source);
        }
    }

    /// <inheritdoc/>
    public void Download(DeviceBuffer source, Span<float> destination, long sourceOffset = 0)
    {
        IlgpuBuffer buffer = Own(source, "Download", nameof(source));
        CheckRange(buffer, sourceOffset, destination.Length, "Download");
        if (!destination.IsEmpty)
        {
            buffer.View.SubView(sourceOffset, destination.Length).CopyToCPU(_stream, destination);
            _stream.Synchronize();
        }
    }

    /// <inheritdoc/>
    public void Synchronize()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _stream.Synchronize();
    }

    /// <inheritdoc/>
    public unsafe DeviceWeight LoadWeight(TensorView view)
    {
        if (view.Rank != 2 || !view.DType.IsWeightFloat())
        {
            throw new ArgumentException(
                $"LoadWeight: tensor '{view.Name}' is {view.DType} {view.ShapeString}; expected a 2-D F32, F16 or BF16 matrix", nameof(view));
        }
        int rows = checked((int)view.Shape[0]), cols = checked((int)view.Shape[1]);
        ObjectDisposedException.ThrowIf(_disposed, this);
        IlgpuWeight weight;
        if (view.DType == DType.F32)
        {
            MemoryBuffer1D<float, Stride1D.Dense> values = AllocateWeight<float>(Math.Max(view.ElementCount, 1), view.Name);
            values.View.AsContiguous().SubView(0, view.ElementCount).CopyFromCPU(_stream, ref Unsafe.AsRef<float>(view.Data), view.ElementCount);
            weight = new IlgpuWeight(this, values, view.Name, rows, cols);
        }
        else
        {
            MemoryBuffer1D<ushort, Stride1D.Dense> words = AllocateWeight<ushort>(Math.Max(view.ElementCount, 1), view.Name);
            words.View.AsContiguous().SubView(0, view.ElementCount).CopyFromCPU(_stream, ref Unsafe.AsRef<ushort>(view.Data), view.ElementCount);
            weight = new IlgpuWeight(this, words, view.Name, view.DType, rows, cols);
        }
        // The view's memory may go away once LoadWeight returns.
        _stream.Synchronize();
        return weight;
    }

    /// <inheritdoc/>
    public DeviceBuffer LoadVector(TensorView view)
    {
        if (!view.DType.IsWeightFloat())
        {
            throw new ArgumentException($"LoadVector: tensor '{view.Name}' is {view.DType}; expected F32, F16 or BF16", nameof(view));
        }
        ObjectDisposedException.ThrowIf(_disposed, this);
        var values = new float[checked((int)view.ElementCount)];
        Numerics.FloatConvert.ToSingle(view, values);
        var buffer = new IlgpuBuffer(this, AllocateWeight<float>(Math.Max(values.Length, 1), view.Name), values.Length);
        Upload(values, buffer);
        return buffer;
    }

    /// <summary>
    /// Frees the backend's scratch memory and releases the device (accelerator and context); buffers and weights
    /// allocated on it must not be used after. Disposing again does nothing.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _tokens?.Dispose();
        _attentionScratch?.Dispose();
        _timedStart?.Dispose();
        _holdSink?.Dispose();
        _accelerator.Dispose();
        _context.Dispose();
    }

    /// <summary>Copies token ids to device scratch memory (in stream order) and returns their view.</summary>
    private ArrayView<int> UploadTokens(ReadOnlySpan<int> tokens)
    {
        if (_tokens is null || _tokens.Length < tokens.Length)
        {
            // Kernels queued earlier may still read the old scratch: wait before freeing it.
            _stream.Synchronize();
            _tokens?.Dispose();
            // Cleared first: where the new one cannot be had, a later, smaller request must not get the freed one.
            _tokens = null;
            _tokens = AllocateOnDevice<int>(Math.Max(64, (long)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)tokens.Length)), "token ids");
        }
        ArrayView<int> view = _tokens.View.AsContiguous().SubView(0, tokens.Length);
        view.CopyFromCPU(_stream, tokens);
        return view;
    }

    /// <summary>Device scratch for split attention's partial results, grown to the largest request (kilobytes).</summary>
    private ArrayView<float> AttentionScratch(long length)
    {
        if (_attentionScratch is null || _attentionScratch.Length < length)
        {
            // Kernels queued earlier may still read the old scratch: wait before freeing it.
            _stream.Synchronize();
            _attentionScratch?.Dispose();
            // Cleared first: where the new one cannot be had, a later, smaller request must not get the freed one.
            _attentionScratch = null;
            _attentionScratch = AllocateOnDevice<float>(length, "split attention's partial results");
        }
        return _attentionScratch.View.AsContiguous().SubView(0, length);
    }

    /// <summary>
    /// <paramref name="length"/> elements of device memory for <paramref name="what"/>. The device's out-of-memory
    /// error (CUDA's, OpenCL's, or the host's on the CPU accelerator) becomes a <see cref="DeviceOutOfMemoryException"/>
    /// that names the size, the purpose and the device's memory, instead of a driver error code. On the CPU
    /// accelerator a request past the host memory available is refused before it is made (<see cref="HostFit"/>).
    /// </summary>
    private MemoryBuffer1D<T, Stride1D.Dense> AllocateOnDevice<T>(long length, string what, string? remedy = null)
        where T : unmanaged
    {
        long bytes = length * Unsafe.SizeOf<T>();
        if (HostFit is HostBufferFit fit && !fit.Fits(bytes))
        {
            throw OutOfMemory(bytes, what, null, remedy);
        }
        try
        {
            return _accelerator.Allocate1D<T>(length);
        }
        catch (Exception e) when (IsOutOfMemory(e))
        {
            throw OutOfMemory(bytes, what, e, remedy);
        }
    }

    /// <summary>
    /// Device memory for (part of) weight <paramref name="name"/>. Where it does not fit, the refusal's remedy is the
    /// weights' (<see cref="DeviceOutOfMemoryException.WeightsRemedy"/>): the commands' general advice names a shorter
    /// context, which frees no weight.
    /// </summary>
    private MemoryBuffer1D<T, Stride1D.Dense> AllocateWeight<T>(long length, string name)
        where T : unmanaged => AllocateOnDevice<T>(length, $"weight '{name}'", DeviceOutOfMemoryException.WeightsRemedy);

    private DeviceOutOfMemoryException OutOfMemory(long bytes, string what, Exception? inner, string? remedy)
    {
        string free = _accelerator switch
        {
            CudaAccelerator cuda => $", {ByteSize.Format(cuda.GetFreeMemory())} of it free now",
            // The device's memory is the process's limit; what decides is the host's, as the cpu backend says it.
            _ when HostFit is HostBufferFit fit =>
                $"; {ByteSize.Format(fit.AvailableMemory())} of the host's memory available now, {ByteSize.Format(HostBufferFit.ReserveBytes(HostMemory.LimitBytes))} of it kept free",
            _ => "",
        };
        return new DeviceOutOfMemoryException(
            $"{Info.Kind} device '{Info.DeviceName}' is out of memory: {ByteSize.Format(bytes)} for {what} did not fit (the device has {ByteSize.Format(Info.MemoryBytes)}{free})", inner)
        {
            Remedy = remedy,
        };
    }

    private static bool IsOutOfMemory(Exception e) => e switch
    {
        OutOfMemoryException => true,
        CudaException cuda => cuda.Error.Contains("OUT_OF_MEMORY", StringComparison.Ordinal),
        CLException cl => cl.Error is CLError.CL_MEM_OBJECT_ALLOCATION_FAILURE or CLError.CL_OUT_OF_RESOURCES or CLError.CL_OUT_OF_HOST_MEMORY,
        _ => false,
    };

    private IlgpuBuffer Own(DeviceBuffer buffer, string op, string name)
    {
        ArgumentNullException.ThrowIfNull(buffer, name);
        if (buffer is not IlgpuBuffer own || own.Owner != this)
        {
            throw new ArgumentException($"{op}: {name} was not allocated by this {Info.Kind} backend", name);
        }
        ObjectDisposedException.ThrowIf(own.IsDisposed, own);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return own;
    }

    private static void CheckRange(DeviceBuffer buffer, long offset, long count, string op)
    {
        if (offset < 0 || offset + count > buffer.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset),
                $"{op}: elements [{offset}, {offset + count}) outside a buffer of {buffer.Length}");
        }
    }
}
