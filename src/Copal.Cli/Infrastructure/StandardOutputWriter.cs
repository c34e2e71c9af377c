using Copal.Tensors.IO;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// Standard output that names itself when a write fails. The console's own writer throws the system's bare reason
/// ("No space left on device" for <c>copal inspect --json &gt; out.json</c> on a full disk, "Access to the path is
/// denied." where standard output is not open for writing), which named nothing. A pipe whose reader has exited is
/// not a failure here: the write is dropped (the runtime would drop it too) and the run stops with exit 141, as
/// SIGPIPE would have ended it (<see cref="StandardOutput.StopIfReaderGone"/>).
/// </summary>
internal sealed class StandardOutputWriter(TextWriter console) : TextWriter
{
    public override System.Text.Encoding Encoding => console.Encoding;

    public override void Write(char value)
    {
        if (StandardOutput.StopIfReaderGone())
        {
            return;
        }
        try
        {
            console.Write(value);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Failed(e);
        }
    }

    public override void Write(char[] buffer, int index, int count)
    {
        if (StandardOutput.StopIfReaderGone())
        {
            return;
        }
        try
        {
            console.Write(buffer, index, count);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Failed(e);
        }
    }

    public override void Write(ReadOnlySpan<char> buffer)
    {
        if (StandardOutput.StopIfReaderGone())
        {
            return;
        }
        try
        {
            console.Write(buffer);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Failed(e);
        }
    }

    public override void Write(string? value)
    {
        if (StandardOutput.StopIfReaderGone())
        {
            return;
        }
        try
        {
            console.Write(value);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Failed(e);
        }
    }

    public override void Flush()
    {
        try
        {
            console.Flush();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Failed(e);
        }
    }

    private static IOException Failed(Exception e) => new(ClosedAtStart.StandardOutput()
        ? "standard output: cannot write: it is not open for writing (closed when copal started, as by >&-)"
        : ClosedAtStart.StandardOutputReadOnly()
            ? "standard output: cannot write: it is open for reading only (as by 1<FILE)"
            : $"standard output: cannot write: {AtomicDirectory.Reason(e)}", e);
}
