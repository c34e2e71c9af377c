using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Copal.Tensors.Backends.Cpu;

namespace Copal.Tensors.Safetensors;

/// <summary>
/// One safetensors file, memory-mapped read-only or read into memory (<see cref="WeightResidence"/>). Everything is
/// validated in <see cref="Open(string, WeightResidence, CancellationToken)"/>; afterwards the tensors are zero-copy <see cref="TensorView"/>s into the mapping or
/// the copy, valid until this object is disposed.
/// Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the data section.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _copy;
    private readonly NamedTensors _named;
    private bool _disposed;

    private SafetensorsFile(string path, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* copy,
        IReadOnlyDictionary<string, string> metadata, TensorView[] tensors, long dataOffset)
    {
        Path = path;
        _map = map;
        _view = view;
        _copy = copy;
        Metadata = metadata;
        _named = new NamedTensors(path, tensors);
        DataOffset = dataOffset;
    }

    /// <summary>The file this was opened from.</summary>
    public string Path { get; }

    /// <summary>The header's <c>__metadata__</c> entries in file order; empty when there are none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensors in data (offset) order.</summary>
    public IReadOnlyList<TensorView> Tensors => Named.All;

    /// <summary>Byte offset of the data section in the file (8 + header length).</summary>
    public long DataOffset { get; }

    /// <summary>Whether the tensors are views into a mapping of the file or into a copy read at open.</summary>
    public WeightResidence Residence => _copy is null ? WeightResidence.Mapped : WeightResidence.Memory;

    /// <summary>
    /// Maps <paramref name="path"/> (or, with <see cref="WeightResidence.Memory"/>, reads it into memory) and
    /// validates its header and layout; throws <see cref="SafetensorsException"/> if anything is wrong.
    /// <see cref="WeightResidence.Auto"/> is decided here for this one file.
    /// </summary>
    /// <exception cref="Backends.DeviceOutOfMemoryException">The file, to be read into memory, would not fit in the host memory available now.</exception>
    public static SafetensorsFile Open(string path, WeightResidence residence = WeightResidence.Mapped, CancellationToken cancellationToken = default) =>
        Open(path, residence, new HostBufferFit(), cancellationToken);

    /// <summary><see cref="Open(string, WeightResidence, CancellationToken)"/> with the host memory a read-in copy is checked against (tests give a fixed amount).</summary>
    internal static SafetensorsFile Open(string path, WeightResidence residence, HostBufferFit fit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (IO.FileKind.IsNamedPipe(path))
        {
            throw new SafetensorsException(path, $"cannot open: {IO.FileKind.NamedPipeReason}", null);
        }
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SafetensorsException(path, $"cannot open: {IO.ReadFailure.Reason(e)}", null, e);
        }

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        byte* copy = null;
        bool acquired = false;
        try
        {
            long length = stream.Length;
            if (length < 8)
            {
                throw new SafetensorsException(path, $"file is {length} bytes, shorter than the 8-byte header length prefix");
            }
            byte* basePtr = null;
            if (WeightResidencePolicy.Resolve(residence, length) == WeightResidence.Memory)
            {
                // The read writes every page of the copy: past the memory there is (--mmap off on a small machine or
                // container), the out-of-memory killer would end the process with no message.
                fit.RequireBytes(length, $"reading '{path}' into memory", HostBufferFit.MapWeightsInstead);
                copy = PrivateCopy.ReadAll(stream, length, path, cancellationToken);
                basePtr = copy;
                stream.Dispose();
            }
            else
            {
                map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
                view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
                view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
                acquired = true;
                basePtr += view.PointerOffset;
            }

            ulong headerLength = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(basePtr, 8));
            if (headerLength > SafetensorsHeader.MaxHeaderBytes)
            {
                throw new SafetensorsException(path,
                    $"header length is {headerLength} bytes, above the {SafetensorsHeader.MaxHeaderBytes}-byte limit (corrupt length prefix?)", 0);
            }
            if ((long)headerLength > length - 8)
            {
                throw new SafetensorsException(path,
                    $"header length is {headerLength} bytes but only {length - 8} bytes follow the length prefix", 0);
            }
            long dataOffset = 8 + (long)headerLength;
            long dataLength = length - dataOffset;
            var (metadata, entries) = SafetensorsHeader.Parse(
                new ReadOnlySpan<byte>(basePtr + 8, (int)headerLength), path, dataLength);

            HeaderEntry[] sorted = SafetensorsHeader.SortByOffset(entries);
            var tensors = new TensorView[sorted.Length];
            byte* data = basePtr + dataOffset;
            for (int i = 0; i < sorted.Length; i++)
            {
                HeaderEntry e = sorted[i];
                tensors[i] = new TensorView(e.Name, e.DType, e.Shape, data + e.Begin, e.ByteLength);
            }
            return new SafetensorsFile(path, map, view, copy, metadata.AsReadOnly(), tensors, dataOffset);
        }
        catch
        {
            if (acquired)
            {
                view!.SafeMemoryMappedViewHandle.ReleasePointer();
            }
            view?.Dispose();
            map?.Dispose();
            NativeMemory.AlignedFree(copy);
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Looks a tensor up by its exact name.</summary>
    public bool TryGet(string name, out TensorView view) => Named.TryGet(name, out view);

    /// <summary>The tensor named <paramref name="name"/>; throws <see cref="SafetensorsException"/> listing the nearest names if absent.</summary>
    public TensorView this[string name] => Named.Get(name);

    private NamedTensors Named
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _named;
        }
    }

    /// <summary>Unmaps the file or frees its copy; views obtained from it must not be used afterwards.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
        NativeMemory.AlignedFree(_copy);
    }
}
