using System.Text.Json;
using Copal.Cli.Infrastructure;

namespace Copal.Cli.Commands;

/// <summary>
/// Writes one position's row of <c>copal logits</c> into the document as JSON: the full row of logits, or its k best
/// log-probabilities as <c>{"id", "logprob"}</c> objects. The numbers go straight from the row into the output, with
/// no copy of the row and no string of it: those were 0.5 MB and 3 MB of garbage a position at a 128k vocabulary, which
/// a container's limit saw before the collector did (a 600-token text was killed at 200 MB where a short one took 83).
/// The row must hold no NaN or infinity (refused before it is written).
/// </summary>
internal sealed class LogitsRowWriter : IDisposable
{
    private readonly TextWriterBufferWriter _output;

    // Each row is a value of its own, the writer reset before it; the document's commas between rows are the caller's.
    private readonly Utf8JsonWriter _json;

    public LogitsRowWriter(TextWriter writer)
    {
        _output = new TextWriterBufferWriter(writer);
        _json = new Utf8JsonWriter(_output, new JsonWriterOptions { Encoder = Out.CompactJsonOptions.Encoder });
    }

    public void Write(ReadOnlySpan<float> row, int topK)
    {
        _json.Reset(_output);
        _json.WriteStartArray();
        if (topK == 0)
        {
            foreach (float logit in row)
            {
                _json.WriteNumberValue(logit);
            }
        }
        else
        {
            foreach ((int id, double logprob) in TopLogprobs.Of(row, topK))
            {
                _json.WriteStartObject();
                _json.WriteNumber("id", id);
                _json.WriteNumber("logprob", logprob);
                _json.WriteEndObject();
            }
        }
        _json.WriteEndArray();
        _json.Flush();
        _output.Flush();
    }

    public void Dispose() => _json.Dispose();
}
