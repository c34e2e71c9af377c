using System.Text.Json;

namespace Copal.Cli.Serving;

/// <summary>
/// A request's body, read whole into one buffer that grows with what arrives: it doubles, never past the length the
/// request announces, so an announced body ends in a buffer of its exact length and needs no copy to be parsed.
/// The buffer follows the bytes that came, not those announced: a client that announces 30 MB and sends 10 bytes
/// costs a few kilobytes. A MemoryStream copied whole at the end (its growth, then ToArray) held 3× the body.
/// </summary>
internal sealed class RequestBody
{
    /// <summary>The first buffer's size, where the body is longer or its length unknown (chunked).</summary>
    private const int FirstBuffer = 16 * 1024;

    private byte[] _buffer = [];
    private int _length;

    /// <summary>The bytes read so far.</summary>
    public long Length => _length;

    /// <summary>The body, once <see cref="ReadFromAsync"/> is done: a view of the buffer, never copied.</summary>
    public ReadOnlyMemory<byte> Bytes => _buffer.AsMemory(0, _length);

    /// <summary>
    /// Reads <paramref name="body"/> to its end. <paramref name="announced"/> is its Content-Length, which the server
    /// (Kestrel) holds it to: no byte comes past it, and one missing is its error, as a body past its limit is.
    /// </summary>
    public async Task ReadFromAsync(Stream body, long? announced, CancellationToken cancellationToken)
    {
        while (announced is not long length || _length < length)
        {
            if (_length == _buffer.Length)
            {
                long grown = Math.Max(FirstBuffer, 2L * _buffer.Length);
                Array.Resize(ref _buffer, (int)Math.Min(Math.Min(grown, announced ?? Array.MaxLength), Array.MaxLength));
            }
            int read = await body.ReadAsync(_buffer.AsMemory(_length), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return;
            }
            _length += read;
        }
    }

    /// <summary>
    /// <paramref name="handle"/>'s result for the body parsed and checked as
    /// <see cref="OpenAiRequests.ParseBody(ReadOnlyMemory{byte})"/> checks it; a large body's on a thread of its own
    /// (<see cref="LargeBodyThread"/>). Only that result outlives this: the parsed body is the handler's to read, and
    /// then garbage. Not an async method, for the reason <see cref="LargeBodyThread.RunAsync"/> is not: a small body's
    /// failure is thrown here, where its caller awaits.
    /// </summary>
    public Task<T> HandleAsync<T>(Func<JsonElement, T> handle) => Handle(() => handle(OpenAiRequests.ParseBody(Bytes)));

    /// <summary>
    /// <see cref="HandleAsync{T}(Func{JsonElement, T})"/> with the top-level field <paramref name="idsField"/> read
    /// apart where it holds token ids (<see cref="TokenIdArrays"/>, null where it stays in the document): they are
    /// the bulk of a large body, and its document took 12 bytes a JSON token of them.
    /// </summary>
    public Task<T> HandleAsync<T>(string idsField, bool nestedAllowed, Func<JsonElement, TokenIdArrays?, T> handle) => Handle(() =>
    {
        JsonElement json = OpenAiRequests.ParseBody(Bytes, idsField, nestedAllowed, out TokenIdArrays? ids);
        return handle(json, ids);
    });

    private Task<T> Handle<T>(Func<T> work) => Length >= LargeBodyThread.Bytes
        ? LargeBodyThread.RunAsync(work)
        : Task.FromResult(work());
}
