using System.Net;
using System.Text;
using System.Text.Json;
using Copal.Cli.Serving;
using Copal.Model.Serving;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// What a body of token ids costs the server to answer: its bytes, its ids and its answer, never a document of the
/// ids. System.Text.Json's document took 12 bytes a JSON token in a pooled array doubled as it fills: a 30 MB
/// completions body of 7.5 million one-token prompts peaked at 0.85 GB for the 400 its count gets, a 30 MB
/// /detokenize of 7.5 million ids at 0.8 GB. Counted over the whole process around one request (the server is in it),
/// so run with no other test class beside it.
/// </summary>
[Collection(QuietHeapCollection.Name)]
public sealed class TokenIdBodyMemoryTests
{
    /// <summary>
    /// 750,000 prompts [1] (3 MB, 2.25 million JSON tokens) are refused for their count, before any is read: the
    /// process allocates the body's buffer (grown by doubling: its sizes add up to under three times its length) and
    /// little else. Their document was 27 MB of rows, in pooled arrays of 4 to 32 MB (73 MB allocated in all).
    /// </summary>
    [Fact]
    public async Task A_completions_body_of_token_id_prompts_costs_its_bytes_not_a_document_of_them()
    {
        await using var server = await Served.StartAsync();
        byte[] body = Encoding.UTF8.GetBytes("{\"model\":\"stories260K\",\"prompt\":[" + string.Join(",", Enumerable.Repeat("[1]", 750_000)) + "]}");
        byte[] warm = Encoding.UTF8.GetBytes("{\"model\":\"stories260K\",\"prompt\":[" + string.Join(",", Enumerable.Repeat("[1]", 300_000)) + "]}");
        await server.PostAsync("/v1/completions", warm); // the connection's, the server's and the large-body thread's first-use costs
        long before = GC.GetTotalAllocatedBytes(precise: true);
        (HttpStatusCode status, string answer) = await server.PostAsync("/v1/completions", body);
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("prompt holds 750000 prompts", answer, StringComparison.Ordinal);
        Assert.InRange(allocated, 0, 3L * body.Length);
    }

    /// <summary>
    /// /detokenize of 750,000 ids (3 MB) costs the body's buffer (grown by doubling: its sizes add up to under three
    /// times its length), the ids (4 bytes each), the tokenizer's decode (counted on its own, on this thread) and the
    /// answer's UTF-8 in the response's buffers; the client reads the answer through a buffer of its own. Its
    /// document (9 MB of rows, in pooled arrays of 2 to 16 MB), the list its ids were gathered in, and room for the
    /// whole answer at once in the response took more than all of those (69 MB allocated against a bound of 35).
    /// </summary>
    [Fact]
    public async Task A_detokenize_body_costs_its_ids_and_their_text_not_a_document_of_them()
    {
        await using var server = await Served.StartAsync();
        const int Ids = 750_000;
        int[] ids = [.. Enumerable.Repeat(100, Ids)];
        byte[] body = Encoding.UTF8.GetBytes("{\"tokens\":[" + string.Join(",", ids) + "]}");
        (HttpStatusCode warmStatus, string warm) = await server.PostAsync("/detokenize", Encoding.UTF8.GetBytes("{\"tokens\":[" + string.Join(",", ids[..300_000]) + "]}"));
        Assert.Equal(HttpStatusCode.OK, warmStatus);
        Assert.Equal(server.Engine.Tokenizer.Decode(ids.AsSpan(0, 300_000), skipSpecialTokens: false), JsonDocument.Parse(warm).RootElement.GetProperty("prompt").GetString());
        string text = server.Engine.Tokenizer.Decode(ids, skipSpecialTokens: false); // whatever the first decode builds once
        long decodeBefore = GC.GetAllocatedBytesForCurrentThread();
        text = server.Engine.Tokenizer.Decode(ids, skipSpecialTokens: false);
        long decode = GC.GetAllocatedBytesForCurrentThread() - decodeBefore;
        long before = GC.GetTotalAllocatedBytes(precise: true);
        (HttpStatusCode status, long answered) = await server.PostCountingAsync("/detokenize", body);
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(Encoding.UTF8.GetByteCount(new System.Text.Json.Nodes.JsonObject { ["prompt"] = text }.ToJsonString(Copal.Cli.Infrastructure.Out.CompactJsonOptions)), answered);
        long bound = (3L * body.Length) + (4L * Ids) + decode + answered;
        Assert.True(allocated <= bound, $"allocated {allocated} bytes, more than {bound}: the decode {decode}, the answer {answered}");
    }

    /// <summary>stories260K served on a loopback port, with a client that sends bytes as they are.</summary>
    private sealed class Served : IAsyncDisposable
    {
        private readonly CpuBackend _backend;
        private readonly OpenAiServer _server;
        private readonly HttpClient _http = new();

        private Served(CpuBackend backend, InferenceEngine engine, OpenAiServer server)
        {
            _backend = backend;
            Engine = engine;
            _server = server;
        }

        public InferenceEngine Engine { get; }

        public static async Task<Served> StartAsync()
        {
            var backend = new CpuBackend();
            InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend);
            return new Served(backend, engine, await OpenAiServer.StartAsync(engine, "127.0.0.1", 0));
        }

        public async Task<(HttpStatusCode Status, string Answer)> PostAsync(string path, byte[] body)
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using HttpResponseMessage r = await _http.PostAsync(new Uri(_server.Address, path), content);
            return (r.StatusCode, await r.Content.ReadAsStringAsync());
        }

        /// <summary>The answer's status and length, read through a buffer of 64 KB.</summary>
        public async Task<(HttpStatusCode Status, long Length)> PostCountingAsync(string path, byte[] body)
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_server.Address, path)) { Content = content };
            using HttpResponseMessage r = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            await using Stream answer = await r.Content.ReadAsStreamAsync();
            byte[] buffer = new byte[64 * 1024];
            long length = 0;
            for (int read; (read = await answer.ReadAsync(buffer)) > 0;)
            {
                length += read;
            }
            return (r.StatusCode, length);
        }

        public async ValueTask DisposeAsync()
        {
            _http.Dispose();
            await _server.DisposeAsync();
            Engine.Dispose();
            _backend.Dispose();
        }
    }
}
