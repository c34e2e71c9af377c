using System.Text;
using System.Text.Json;
using Copal.Tensors;
using Copal.Tensors.IO;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// Where commands write. Results go to stdout (human text, or one JSON document with --json); progress and
/// notices go to stderr so that stdout stays machine-readable.
/// </summary>
internal static class Out
{
    // NaN and ±Inf become null (CopalJson), never "NaN". A value that does not exist is written as null, not left out,
    // so a command's document has the same fields every time (and the same as the files it writes).
    private static readonly JsonSerializerOptions s_json = CopalJson.Create(indented: true, enumsAsStrings: true);

    private static readonly JsonSerializerOptions s_compactJson = CopalJson.Create(indented: false, snakeCase: false);

    public static JsonSerializerOptions JsonOptions => s_json;

    /// <summary>Plain one-line JSON with the same unescaped text, for large documents that name their own keys (logits).</summary>
    public static JsonSerializerOptions CompactJsonOptions => s_compactJson;

    public static void Json<T>(T value) => Json(value, Console.Out);

    /// <summary>
    /// Writes <paramref name="value"/> as the indented document and a line break, serialized into
    /// <paramref name="writer"/> as it goes: a large document (tokenize's ids of a long file) is never a whole string.
    /// </summary>
    internal static void Json<T>(T value, TextWriter writer)
    {
        var output = new TextWriterBufferWriter(writer);
        using (var json = new Utf8JsonWriter(output, s_jsonWriter))
        {
            JsonSerializer.Serialize(json, value, s_json);
        }
        output.Flush();
        writer.WriteLine();
    }

    // The writer options the serializer derives from s_json when it writes a string.
    private static readonly JsonWriterOptions s_jsonWriter = new()
    {
        Encoder = s_json.Encoder,
        Indented = s_json.WriteIndented,
        IndentCharacter = s_json.IndentCharacter,
        IndentSize = s_json.IndentSize,
        NewLine = s_json.NewLine,
        MaxDepth = s_json.MaxDepth,
    };

    public static void Line(string text) => Console.Out.WriteLine(text);

    public static void Info(string text) => Console.Error.WriteLine(text);

    /// <summary>
    /// <paramref name="text"/> in double quotes for a human: only the quote, the backslash and control characters are
    /// escaped, so any other character (▁, Ġ, emoji) shows as itself.
    /// </summary>
    public static string Quote(string text)
    {
        var sb = new StringBuilder(text.Length + 2).Append('"');
        foreach (char c in text)
        {
            _ = c switch
            {
                '"' => sb.Append("\\\""),
                '\\' => sb.Append("\\\\"),
                '\n' => sb.Append("\\n"),
                '\r' => sb.Append("\\r"),
                '\t' => sb.Append("\\t"),
                _ when char.IsControl(c) => sb.Append($"\\u{(int)c:x4}"),
                _ => sb.Append(c),
            };
        }
        return sb.Append('"').ToString();
    }
}

/// <summary>
/// A progress line on stderr: redrawn in place on a terminal, one line per update (rate-limited) otherwise, so logs
/// stay readable. A finished run's line ends on its last update (<see cref="Done"/>), never on one the rate limit
/// happened to let through earlier.
/// </summary>
internal sealed class ProgressLine : IDisposable
{
    private readonly bool _tty = !Console.IsErrorRedirected;
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private TimeSpan _lastPrint = TimeSpan.FromSeconds(-10);
    private int _lastLength;
    private bool _dirty;
    // The latest update the rate limit held back, shown by Done.
    private string? _held;
    private readonly bool _quiet;

    // The line drawn in place on the terminal and not yet ended, which a notice must first end (BreakForNotice).
    private static readonly Lock s_gate = new();
    private static ProgressLine? s_drawn;

    public ProgressLine(bool quiet = false) => _quiet = quiet;

    /// <summary>Shows <paramref name="text"/>; with done/total also a percentage and an ETA.</summary>
    public void Update(string text, long done = -1, long total = -1, bool force = false) => Draw(text, done, total, force, $"{done}/{total}");

    /// <summary>As <see cref="Update"/>, with done and total as byte sizes ("1.2 GB of 4.4 GB").</summary>
    public void UpdateBytes(string text, long done, long total) => Draw(text, done, total, force: false, $"{ByteSize.Format(done)} of {ByteSize.Format(total)}");

    private void Draw(string text, long done, long total, bool force, string count)
    {
        if (_quiet)
        {
            return;
        }
        TimeSpan now = _clock.Elapsed;
        bool last = total > 0 && done >= total;
        string line = text;
        if (total > 0 && done >= 0)
        {
            double fraction = (double)done / total;
            string eta = done > 0 && !last ? $", ETA {Format(TimeSpan.FromSeconds(now.TotalSeconds / fraction - now.TotalSeconds))}" : "";
            line = $"{text} [{count}, {fraction:P0}, {Format(now)}{eta}]";
        }
        if (!force && !last && now - _lastPrint < (_tty ? TimeSpan.FromMilliseconds(100) : TimeSpan.FromSeconds(2)))
        {
            _held = line;
            return;
        }
        _lastPrint = now;
        Show(line);
    }

    /// <summary>
    /// Ends the line of a finished run: shows the last update if the rate limit held it back, then ends the in-place
    /// line so the next output starts on a fresh line.
    /// </summary>
    public void Done()
    {
        if (_held is string held)
        {
            Show(held);
        }
        EndLine();
    }

    /// <summary>Ends the in-place line only: a run that failed or was cancelled is not shown as further along.</summary>
    public void Dispose() => EndLine();

    /// <summary>
    /// Starts a fresh line on stderr for a notice that interrupts a run (the signal handler's "cancelling"). On a
    /// terminal the cursor may be after a progress line drawn in place or an echoed ^C: a line break ends it, and the
    /// progress line counts as ended (its own end would leave an empty line). Redirected, every line is already ended,
    /// and a break would only leave an empty line.
    /// </summary>
    public static void BreakForNotice()
    {
        if (Console.IsErrorRedirected)
        {
            return;
        }
        lock (s_gate)
        {
            // Past the console, as the notice itself (StandardError): a write to a blocked standard output holds the
            // console's lock, and a break through it waited there with the notice and the cancellation behind it.
            StandardError.WriteLine("");
            if (s_drawn is ProgressLine drawn)
            {
                drawn._dirty = false;
                drawn._lastLength = 0;
                s_drawn = null;
            }
        }
    }

    private void Show(string line)
    {
        _held = null;
        if (_tty)
        {
            lock (s_gate)
            {
                Console.Error.Write("\r" + line.PadRight(_lastLength));
                _lastLength = line.Length;
                _dirty = true;
                s_drawn = this;
            }
        }
        else
        {
            Console.Error.WriteLine(line);
        }
    }

    private void EndLine()
    {
        _held = null;
        lock (s_gate)
        {
            if (_dirty)
            {
                Console.Error.WriteLine();
                _dirty = false;
                _lastLength = 0;
            }
            if (s_drawn == this)
            {
                s_drawn = null;
            }
        }
    }

    private static string Format(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss") : t.ToString(@"m\:ss");
}
