using System.Runtime.InteropServices;

namespace Copal.Tensors.Tests.Memory;

/// <summary>Which edge of a <see cref="GuardedBytes"/> touches an inaccessible page.</summary>
public enum GuardedEdge
{
    /// <summary>The bytes end exactly at a page's end, and the next page is inaccessible: a read past the end faults.</summary>
    End,

    /// <summary>The bytes start exactly at a page's start, and the page before is inaccessible: a read before the start faults.</summary>
    Start,
}

/// <summary>
/// Bytes mapped as a borrowed (memory-mapped) tensor's are, with nothing readable past one edge: the neighbouring page
/// is PROT_NONE, so a kernel that reads one byte outside the tensor crashes the test run instead of reading whatever
/// a heap block has beside it (which <see cref="Sparse.PinnedTensor"/>'s exact-size allocation cannot catch). The
/// bytes themselves are read-only once written, as a file mapped read-only is, so a kernel writing into its input
/// crashes too.
/// </summary>
internal sealed unsafe class GuardedBytes : IDisposable
{
    private const int ProtNone = 0, ProtRead = 1, ProtWrite = 2;
    private const int MapPrivate = 0x02, MapAnonymous = 0x20;

    private readonly byte* _mapping;
    private readonly nuint _mappingLength;

    public GuardedBytes(ReadOnlySpan<byte> bytes, GuardedEdge edge)
    {
        nuint page = (nuint)Environment.SystemPageSize;
        nuint dataPages = Math.Max(1, ((nuint)bytes.Length + page - 1) / page);
        _mappingLength = (dataPages + 1) * page;
        _mapping = (byte*)Mmap(null, _mappingLength, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (_mapping == (byte*)-1)
        {
            throw new InvalidOperationException($"mmap of {_mappingLength} bytes failed: errno {Marshal.GetLastPInvokeError()}");
        }
        byte* dataPagesStart = edge == GuardedEdge.End ? _mapping : _mapping + page;
        byte* guard = edge == GuardedEdge.End ? _mapping + dataPages * page : _mapping;
        Data = edge == GuardedEdge.End ? dataPagesStart + dataPages * page - (nuint)bytes.Length : dataPagesStart;
        Length = bytes.Length;
        bytes.CopyTo(new Span<byte>(Data, bytes.Length));
        Protect(guard, page, ProtNone);
        Protect(dataPagesStart, dataPages * page, ProtRead);
    }

    /// <summary>The first byte.</summary>
    public byte* Data { get; }

    public int Length { get; }

    /// <summary>The bytes as a tensor a checkpoint would hand out.</summary>
    public TensorView View(string name, DType dtype, long[] shape) => new(name, dtype, shape, Data, Length);

    public void Dispose()
    {
        if (Munmap(_mapping, _mappingLength) != 0)
        {
            throw new InvalidOperationException($"munmap failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    private static void Protect(byte* start, nuint length, int protection)
    {
        if (Mprotect(start, length, protection) != 0)
        {
            throw new InvalidOperationException($"mprotect failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [DllImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static extern void* Mmap(void* address, nuint length, int protection, int flags, int fd, nint offset);

    [DllImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static extern int Mprotect(void* address, nuint length, int protection);

    [DllImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static extern int Munmap(void* address, nuint length);
}
