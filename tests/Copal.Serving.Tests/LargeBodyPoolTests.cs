using System.Buffers;
using System.Text;
using System.Text.Json;
using Copal.Cli.Serving;

namespace Copal.Serving.Tests;

/// <summary>
/// What a large body leaves once it is handled: nothing. System.Text.Json's document returns every array its rows
/// outgrow to the shared pool, which keeps them in the returning thread's own slots; parsed on the server's pool
/// threads, five bodies of 7.5 million prompts left the server 2.6 GB larger for as long as it ran. A large body's
/// work runs on a thread of its own (<see cref="LargeBodyThread"/>), whose slots go with it.
/// </summary>
[Collection(QuietHeapCollection.Name)]
public sealed class LargeBodyPoolTests
{
    [Fact]
    public async Task What_a_large_bodys_work_returns_to_the_shared_pool_goes_with_it()
    {
        RequestBody body = await Read(Body(LargeBodyThread.Bytes));
        WeakReference returned = await body.HandleAsync(json =>
        {
            byte[] rows = ArrayPool<byte>.Shared.Rent(4 << 20);
            ArrayPool<byte>.Shared.Return(rows);
            return new WeakReference(rows);
        });
        Collect();
        Assert.False(returned.IsAlive);
    }

    [Fact]
    public async Task A_large_bodys_parse_leaves_nothing_on_the_heap_once_handled()
    {
        // 750,000 prompts [1] in 3 MB: 27 MB of rows, in arrays of 4, 8 and 16 MB outgrown (28 MB the pool kept) and
        // the 32 MB that holds them, all garbage once the answer is taken.
        const int Prompts = 750_000;
        byte[] bytes = Body(Prompts * 4L);
        RequestBody body = await Read(bytes);
        RequestBody small = await Read(Body(4000));
        await small.HandleAsync(json => json.GetProperty("prompt").GetArrayLength()); // the parse's first-use costs
        Collect();
        long before = GC.GetTotalMemory(forceFullCollection: true);
        int prompts = await body.HandleAsync(json => json.GetProperty("prompt").GetArrayLength());
        Collect();
        long kept = GC.GetTotalMemory(forceFullCollection: true) - before;
        Assert.Equal(Prompts, prompts);
        Assert.InRange(kept, long.MinValue, bytes.Length / 2);
    }

    [Fact]
    public async Task A_large_bodys_failure_is_its_request_s_with_its_message()
    {
        byte[] bytes = Body(LargeBodyThread.Bytes);
        bytes[^1] = (byte)' '; // the object left open
        RequestBody body = await Read(bytes);
        OpenAiException inline = Assert.Throws<OpenAiException>(() => OpenAiRequests.ParseBody(body.Bytes));
        OpenAiException e = await Assert.ThrowsAsync<OpenAiException>(() => body.HandleAsync(json => 0));
        Assert.Equal((inline.Status, inline.Param, inline.Message), (e.Status, e.Param, e.Message));
        RequestBody good = await Read(Body(LargeBodyThread.Bytes));
        InvalidOperationException thrown = await Assert.ThrowsAsync<InvalidOperationException>(
            () => good.HandleAsync<int>(json => throw new InvalidOperationException("handler")));
        Assert.Equal("handler", thrown.Message);
    }

    /// <summary>
    /// A tokenizer endpoint's large answer, once its client has read it, leaves nothing in the server's pool of
    /// pinned blocks (Kestrel's, on the pinned object heap, which holds nothing else here: the client's buffers are
    /// not pinned). Written before the response had started, the server kept the answer in blocks of its own and
    /// copied it into the connection's at the flush; its pool kept both (63 MB after a 30 MB /tokenize).
    /// </summary>
    [Fact]
    public async Task A_large_answer_leaves_nothing_in_the_servers_pooled_blocks_once_read()
    {
        using var backend = new Copal.Tensors.Backends.Cpu.CpuBackend();
        using var engine = Copal.Model.Serving.InferenceEngine.Load(Copal.Testing.TestData.Stories260K, backend);
        await using OpenAiServer server = await OpenAiServer.StartAsync(engine, "127.0.0.1", 0);
        using var http = new HttpClient();
        async Task<long> Tokenize(string text)
        {
            using var content = new StringContent(JsonSerializer.Serialize(new { prompt = text }), Encoding.UTF8, "application/json");
            using HttpResponseMessage r = await http.PostAsync(new Uri(server.Address, "/tokenize"), content);
            byte[] answer = await r.Content.ReadAsByteArrayAsync();
            Assert.True(r.IsSuccessStatusCode, Encoding.UTF8.GetString(answer));
            return answer.Length;
        }
        static long Pinned()
        {
            Collect();
            return GC.GetGCMemoryInfo().GenerationInfo[4].SizeAfterBytes;
        }
        string text = string.Concat(Enumerable.Repeat("Once upon a time there was a little girl named Lily. ", 160_000));
        await Tokenize("Once upon a time"); // the connection's and the server's first-use costs
        long before = Pinned();
        long answered = await Tokenize(text);
        long kept = Pinned() - before;
        Assert.True(answered > 8_000_000, $"{answered} bytes answered");
        // What stays is the request body's buffering (the server reads up to 1 MB of it ahead), not the answer.
        Assert.InRange(kept, long.MinValue, answered / 4);
    }

    [Fact]
    public void What_a_request_is_read_into_holds_no_part_of_its_body()
    {
        // A generation holds what its body was read into for as long as it runs: the body and its parse are garbage
        // once it is read (a 30 MB body of rows held through a long generation otherwise).
        using var backend = new Copal.Tensors.Backends.Cpu.CpuBackend();
        using var engine = Copal.Model.Serving.InferenceEngine.Load(Copal.Testing.TestData.Stories260K, backend);
        (WeakReference buffer, OpenAiRequest request) = ReadCompletion(engine);
        Collect();
        Assert.False(buffer.IsAlive);
        Assert.Single(request.Prompts);
    }

    // Waited on, not awaited: an async helper's state machine holds the body until its completion has run the test's
    // continuation, which may be on another thread, so the collection could find it alive (one run in four, under
    // load). Its own frame, not inlined, so that no local of this one outlives the read either.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (WeakReference Buffer, OpenAiRequest Request) ReadCompletion(Copal.Model.Serving.InferenceEngine engine)
    {
        byte[] bytes = Encoding.UTF8.GetBytes("{\"model\":\"" + engine.ModelId + "\",\"prompt\":\"Once upon a time\",\"max_tokens\":4,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\",\"schema\":{\"type\":\"object\"}}},\"unknown\":["
            + string.Join(",", Enumerable.Repeat("[1]", 300_000)) + "]}");
        RequestBody body = Read(bytes).GetAwaiter().GetResult();
        Assert.True(body.Length >= LargeBodyThread.Bytes); // read on a thread of its own, as a large body is
        OpenAiRequest request = body.HandleAsync(json => OpenAiRequests.Completion(json, engine)).GetAwaiter().GetResult();
        return (new WeakReference(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(body.Bytes, out ArraySegment<byte> array) ? array.Array : null), request);
    }

    /// <summary>A body of at least <paramref name="bytes"/> bytes: <paramref name="bytes"/> ÷ 4 one-token prompts, four bytes each.</summary>
    private static byte[] Body(long bytes) =>
        Encoding.UTF8.GetBytes("{\"model\":\"stories260K\",\"prompt\":[" + string.Join(",", Enumerable.Repeat("[1]", (int)(bytes / 4))) + "]}");

    private static async Task<RequestBody> Read(byte[] bytes)
    {
        var body = new RequestBody();
        await body.ReadFromAsync(new MemoryStream(bytes), bytes.Length, CancellationToken.None);
        return body;
    }

    private static void Collect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }
}

/// <summary>Runs the tests that weigh the whole heap with no other test class beside it (xunit runs such a collection alone).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class QuietHeapCollection
{
    public const string Name = "heap, alone";
}
