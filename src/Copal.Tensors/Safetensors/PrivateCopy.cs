using System.Runtime.InteropServices;

namespace Copal.Tensors.Safetensors;

/// <summary>A file read whole into this process's memory (<see cref="WeightResidence.Memory"/>).</summary>
internal static unsafe class PrivateCopy
{
    /// <summary>Alignment of a copy on small pages: a page, as a mapping's base would be.</summary>
    private const int CopyAlignment = 4096;

    private const int ReadChunk = 64 << 20;

    /// <summary>Huge-page size on x86-64 Linux, and the alignment of a copy that asks for them.</summary>
    private const int HugePage = 2 << 20;

    /// <summary>madvise(2) advice: back the range with transparent huge pages where the system allows it.</summary>
    private const int MadviseHugePage = 14;

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(nint address, nuint length, int advice);

    /// <summary>
    /// The whole file, read into a native allocation the caller owns. On Linux a copy of at least one huge page is
    /// aligned to huge pages and advised to use them: the read then faults in 2 MiB pages, not 4 KiB ones, which took
    /// the load of a 2.2 GB checkpoint from 12.8 s to 6.9–7.8 s on this project's machine (a virtual machine, where
    /// each first touch of a page is expensive), and the kernels stream them with fewer TLB misses. The advice is
    /// only advice: where it is refused, the copy works the same on small pages.
    /// </summary>
    public static byte* ReadAll(FileStream stream, long length, string path, CancellationToken cancellationToken = default)
    {
        byte* copy = Allocate(length);
        try
        {
            long done = 0;
            while (done < length)
            {
                // 64 MiB at a time, so Ctrl-C stops a read of gigabytes within a fraction of a second.
                cancellationToken.ThrowIfCancellationRequested();
                int chunk = (int)Math.Min(ReadChunk, length - done);
                int read = RandomAccess.Read(stream.SafeFileHandle, new Span<byte>(copy + done, chunk), done);
                if (read == 0)
                {
                    throw new SafetensorsException(path, $"file ended at byte {done} of {length} while being read (changed on disk?)");
                }
                done += read;
            }
            return copy;
        }
        catch (IOException e)
        {
            NativeMemory.AlignedFree(copy);
            throw new SafetensorsException(path, $"cannot read: {e.Message}", null, e);
        }
        catch
        {
            NativeMemory.AlignedFree(copy);
            throw;
        }
    }

    /// <summary>
    /// An uninitialised native block of <paramref name="length"/> bytes (free with NativeMemory.AlignedFree): on
    /// Linux, from a huge page on, aligned to huge pages and advised to use them (see <see cref="ReadAll"/>).
    /// </summary>
    public static byte* Allocate(long length)
    {
        bool huge = OperatingSystem.IsLinux() && length >= HugePage;
        nuint size = huge ? ((nuint)length + HugePage - 1) & ~(nuint)(HugePage - 1) : (nuint)Math.Max(1, length);
        byte* block = (byte*)NativeMemory.AlignedAlloc(size, (nuint)(huge ? HugePage : CopyAlignment));
        if (huge)
        {
            _ = Madvise((nint)block, size, MadviseHugePage);
        }
        return block;
    }
}
