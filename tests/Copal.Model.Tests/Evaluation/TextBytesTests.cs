using Copal.Model.Evaluation;

namespace Copal.Model.Tests.Evaluation;

/// <summary>
/// A text input longer than one string holds is refused once the limit is passed, naming it: /dev/zero as --data read
/// until .NET ran out of array and the run ended in an "internal error".
/// </summary>
public sealed class TextBytesTests
{
    [Fact]
    public void An_endless_input_is_refused_once_past_the_limit()
    {
        using var endless = new EndlessStream();
        var e = Assert.Throws<Copal.Tensors.IO.FileTooLargeToReadException>(() => TextBytes.Read(endless, "standard input", 100_000));
        Assert.Equal("standard input holds more than 100,000 bytes; expected at most 100,000 bytes of text (the most one string holds): split it", e.Message);
        Assert.True(endless.Served <= 100_000 + (1 << 16), $"read {endless.Served} bytes");
    }

    [Fact]
    public void An_input_of_exactly_the_limit_is_read_whole()
    {
        byte[] text = new byte[1000];
        Array.Fill(text, (byte)'a');
        Assert.Equal(text, TextBytes.Read(new MemoryStream(text), "x", 1000));
    }

    [Fact]
    public void A_file_longer_than_the_limit_is_refused_by_its_size_before_reading()
    {
        // A sparse file: its length is set, nothing is written or read.
        string path = Path.Combine(Path.GetTempPath(), $"copal-long-{Guid.NewGuid():N}.txt");
        try
        {
            using (FileStream f = File.Create(path))
            {
                f.SetLength(TextBytes.MaxBytes + 1L);
            }
            var e = Assert.Throws<Copal.Tensors.IO.FileTooLargeToReadException>(() => TextDataset.Load(path));
            Assert.Equal($"text file '{path}' is 1,073,741,792 bytes; expected at most 1,073,741,791 bytes of text (the most one string holds): split it", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// A dataset read whole is its bytes, then its string: the bytes came through a buffer that doubled and was copied
    /// out (about four times the file), and the string through a rented buffer of a char per byte that the pool then
    /// kept. A 3 MB file allocated 17.8 MB to load (9.5 MB allowed); now its 3 MB and its string.
    /// </summary>
    [Fact]
    public void Loading_a_text_file_allocates_its_bytes_and_its_string()
    {
        string path = Path.Combine(Path.GetTempPath(), $"copal-text-{Guid.NewGuid():N}.txt");
        try
        {
            var sb = new System.Text.StringBuilder();
            while (sb.Length < 3_000_000)
            {
                sb.Append("The cat sat on the mat, 42 times: caf\u00e9, \u65e5\u672c, \U0001F600.\n");
            }
            File.WriteAllText(path, sb.ToString());
            long bytes = new FileInfo(path).Length;
            TextDataset.Load(path);

            long before = GC.GetAllocatedBytesForCurrentThread();
            string text = TextDataset.Load(path);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

            Assert.Equal(sb.ToString(), text);
            Assert.InRange(allocated, 0, bytes + (2L * text.Length) + (64 << 10));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private sealed class EndlessStream : Stream
    {
        public long Served { get; private set; }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Served; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            Array.Fill(buffer, (byte)'x', offset, count);
            Served += count;
            return count;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
