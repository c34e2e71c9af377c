using System.Buffers.Binary;
using System.Text;
using Copal.Tensors.IO;

namespace Copal.Tensors.Safetensors;

/// <summary>
/// Writes a safetensors file tensor by tensor without holding the model in memory, atomically: the bytes go to
/// a hidden sibling named as <see cref="TemporaryNames"/> says (<c>.NAME.tmp-PID-START-NS-MACHINE-BOOT-N</c>), and <see cref="Commit"/>
/// renames that over <c>path</c>. Disposing without committing deletes the temporary file and leaves any existing file
/// at <c>path</c> untouched.
/// The header is fixed up front from the specs, so the data must arrive in the order the specs were given.
/// </summary>
public sealed class SafetensorsWriter : IDisposable
{
    private const int BufferBytes = 1 << 20;

    private readonly string _path;
    private readonly string _shown;
    private readonly string _tempPath;
    private readonly TensorSpec[] _tensors;
    private readonly long[] _lengths;
    private FileStream? _stream;
    private int _current;
    private long _written;
    private bool _committed;

    private SafetensorsWriter(string path, string shown, string tempPath, TensorSpec[] tensors, long[] lengths, FileStream stream)
    {
        _path = path;
        _shown = shown;
        _tempPath = tempPath;
        _tensors = tensors;
        _lengths = lengths;
        _stream = stream;
    }

    /// <summary>The largest header safetensors readers accept, ours and the safetensors crate's: 100 MB.</summary>
    public const long MaxHeaderBytes = SafetensorsHeader.MaxHeaderBytes;

    /// <summary>The file that <see cref="Commit"/> will create or replace.</summary>
    public string Path => _path;

    /// <summary>The temporary file being written.</summary>
    public string TempPath => _tempPath;

    /// <summary>
    /// Starts a file holding <paramref name="tensors"/> laid out in the given order, with optional
    /// <paramref name="metadata"/> (written in its enumeration order). Writes the header immediately. Errors name
    /// the file as <paramref name="shownAs"/> (default: <paramref name="path"/>): a file written inside an
    /// <see cref="IO.AtomicDirectory"/>'s temporary folder is named where it will be, not by that hidden folder.
    /// </summary>
    public static SafetensorsWriter Create(string path, IReadOnlyList<TensorSpec> tensors, IReadOnlyDictionary<string, string>? metadata = null, string? shownAs = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        string shown = shownAs ?? path;
        TensorSpec[] specs = [.. tensors];
        long[] lengths = Validate(shown, specs, metadata);

        byte[] header;
        try
        {
            header = HeaderWriter.Build(specs, metadata);
        }
        catch (EncoderFallbackException e)
        {
            throw new SafetensorsException(shown, "a tensor name or metadata string is not valid Unicode (lone surrogate)", null, e);
        }
        if (header.Length > SafetensorsHeader.MaxHeaderBytes)
        {
            // Readers refuse it (ours, and the safetensors crate, at the same limit): the file would be unreadable.
            throw new SafetensorsException(shown, FormattableString.Invariant(
                $"the header of {specs.Length} tensors would take {header.Length} bytes, above the {MaxHeaderBytes}-byte limit of safetensors readers"));
        }

        string tempPath = TemporaryNames.Sibling(path, "tmp");
        FileStream stream;
        try
        {
            stream = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SafetensorsException(shown, $"cannot create temporary file '{tempPath}': {e.Message}", null, e) { WhileWriting = true };
        }
        try
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            stream.Write(prefix);
            stream.Write(header);
        }
        catch
        {
            stream.Dispose();
            File.Delete(tempPath);
            throw;
        }
        var writer = new SafetensorsWriter(path, shown, tempPath, specs, lengths, stream);
        writer.SkipEmpty();
        return writer;
    }

    /// <summary>
    /// Appends bytes of tensor <paramref name="name"/>. Tensors must come in the order given to <see cref="Create"/>;
    /// one tensor may arrive in several chunks, and the next may start only once the previous is complete.
    /// </summary>
    public void Write(string name, ReadOnlySpan<byte> data)
    {
        FileStream stream = _stream ?? throw new ObjectDisposedException(nameof(SafetensorsWriter),
            $"writer for '{_shown}' is already {(_committed ? "committed" : "disposed")}");
        if (_current >= _tensors.Length || _tensors[_current].Name != name)
        {
            if (data.IsEmpty && IsEmptyTensor(name))
            {
                // A zero-byte tensor is complete from the start (SkipEmpty stepped over it); a caller that writes
                // every tensor's bytes, none here, is not out of order.
                return;
            }
            throw new SafetensorsException(_shown, OrderMessage(name));
        }
        long remaining = _lengths[_current] - _written;
        if (data.Length > remaining)
        {
            throw new SafetensorsException(_shown,
                $"tensor '{name}' ({_tensors[_current].DType.ToSafetensorsName()} [{string.Join(", ", _tensors[_current].Shape)}]) is {_lengths[_current]} bytes; {_written} are written and {data.Length} more were given");
        }
        try
        {
            stream.Write(data);
        }
        catch (Exception e) when (e is IOException or ArgumentOutOfRangeException)
        {
            throw WriteFailed(e);
        }
        _written += data.Length;
        if (_written == _lengths[_current])
        {
            _current++;
            _written = 0;
            SkipEmpty();
        }
    }

    /// <summary>
    /// Appends <paramref name="data"/>'s bytes (a whole tensor read from a checkpoint or built in native memory) to
    /// tensor <paramref name="name"/>, in pieces: a span holds at most 2 GiB, and embeddings of large vocabularies are
    /// bigger (Qwen2-72B's in BF16, 2.5 GB).
    /// </summary>
    public void Write(string name, TensorView data) => Write(name, data, 1L << 28);

    /// <summary>The same, in pieces of <paramref name="piece"/> bytes (tests cross piece boundaries with small tensors).</summary>
    internal unsafe void Write(string name, TensorView data, long piece)
    {
        for (long offset = 0; offset < data.ByteLength; offset += piece)
        {
            Write(name, new ReadOnlySpan<byte>(data.Data + offset, (int)Math.Min(piece, data.ByteLength - offset)));
        }
        if (data.ByteLength == 0)
        {
            Write(name, []);
        }
    }

    /// <summary>Checks that every tensor was written in full, flushes to disk and renames the file into place.</summary>
    public void Commit()
    {
        FileStream stream = _stream ?? throw new ObjectDisposedException(nameof(SafetensorsWriter),
            $"writer for '{_shown}' is already {(_committed ? "committed" : "disposed")}");
        if (_current < _tensors.Length)
        {
            TensorSpec t = _tensors[_current];
            throw new SafetensorsException(_shown,
                $"cannot commit: tensor '{t.Name}' has {_written} of its {_lengths[_current]} bytes written" +
                (_tensors.Length - _current > 1 ? $", and {_tensors.Length - _current - 1} tensors after it are missing" : ""));
        }
        try
        {
            stream.Flush(flushToDisk: true);
        }
        catch (Exception e) when (e is IOException or ArgumentOutOfRangeException)
        {
            throw WriteFailed(e);
        }
        stream.Dispose();
        _stream = null;
        try
        {
            File.Move(_tempPath, _path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            File.Delete(_tempPath);
            throw new SafetensorsException(_shown, $"cannot rename the finished temporary file into place: {e.Message}", null, e) { WhileWriting = true };
        }
        _committed = true;
        try
        {
            Durable.FlushParent(_path); // the rename itself, so that a power cut keeps it
        }
        catch (IOException e)
        {
            throw new SafetensorsException(_shown, $"the file is in place, but the folder that holds it could not be flushed to the disk: {AtomicDirectory.Reason(e)}", null, e) { WhileWriting = true };
        }
    }

    /// <summary>
    /// Closes the writer; without a prior <see cref="Commit"/> the temporary file is deleted. Never throws: closing
    /// flushes buffered bytes, which fails on a full disk, and those bytes are being thrown away anyway.
    /// </summary>
    public void Dispose()
    {
        if (_stream is null)
        {
            return;
        }
        try
        {
            _stream.Dispose();
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            // The unwritten tail of a file that is deleted next.
        }
        _stream = null;
        try
        {
            File.Delete(_tempPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Hidden and named as ours: the next run removes it (TemporaryNames.RemoveStale).
        }
    }

    // A full disk is an IOException; a write past the process's file-size limit (EFBIG) surfaces as ArgumentOutOfRangeException.
    private SafetensorsException WriteFailed(Exception e) => new(_shown,
        $"cannot write: {AtomicDirectory.Reason(e)}", null, e) { WhileWriting = true };

    private bool IsEmptyTensor(string name)
    {
        int i = Array.FindIndex(_tensors, t => t.Name == name);
        return i >= 0 && _lengths[i] == 0;
    }

    /// <summary>Zero-byte tensors need no Write call: step over them so the next tensor's data is accepted.</summary>
    private void SkipEmpty()
    {
        while (_current < _tensors.Length && _lengths[_current] == 0)
        {
            _current++;
        }
    }

    private string OrderMessage(string name)
    {
        int index = Array.FindIndex(_tensors, t => t.Name == name);
        if (index < 0)
        {
            return $"tensor '{name}' is not among the {_tensors.Length} tensors this file was created with";
        }
        if (_current >= _tensors.Length)
        {
            return $"tensor '{name}' was already written in full; every tensor is complete";
        }
        string expected = $"expected data of tensor '{_tensors[_current].Name}' (#{_current}, {_written} of {_lengths[_current]} bytes written)";
        return index < _current
            ? $"tensor '{name}' (#{index}) was already written in full; {expected}"
            : $"tensor '{name}' (#{index}) is out of order; {expected}";
    }

    private static long[] Validate(string path, TensorSpec[] specs, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var lengths = new long[specs.Length];
        long total = 0;
        for (int i = 0; i < specs.Length; i++)
        {
            TensorSpec t = specs[i];
            if (t.Name is null || t.Shape is null)
            {
                throw new SafetensorsException(path, $"tensor #{i} has no {(t.Name is null ? "name" : "shape")}");
            }
            if (t.Name == SafetensorsHeader.MetadataKey)
            {
                throw new SafetensorsException(path, $"tensor #{i} is named '{SafetensorsHeader.MetadataKey}', which the format reserves for metadata");
            }
            if (!names.Add(t.Name))
            {
                throw new SafetensorsException(path, $"tensor '{t.Name}' is listed twice");
            }
            if (!Enum.IsDefined(t.DType))
            {
                throw new SafetensorsException(path, $"tensor '{t.Name}' has unknown dtype {(int)t.DType}");
            }
            lengths[i] = SafetensorsHeader.ByteLength(t.Shape, t.DType, path, t.Name, null);
            if (lengths[i] > long.MaxValue - total)
            {
                throw new SafetensorsException(path, $"tensors up to '{t.Name}' add up to more bytes than a file can hold");
            }
            total += lengths[i];
        }
        if (metadata is not null)
        {
            foreach (KeyValuePair<string, string> kv in metadata)
            {
                if (kv.Key is null || kv.Value is null)
                {
                    throw new SafetensorsException(path, $"metadata entry '{kv.Key}' has a null {(kv.Key is null ? "key" : "value")}");
                }
            }
        }
        return lengths;
    }
}
