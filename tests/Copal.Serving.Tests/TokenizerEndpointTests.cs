using System.Text.Json;

namespace Copal.Serving.Tests;

/// <summary>
/// vLLM's tokenizer endpoints, which lm-evaluation-harness's remote tokenizer probes (an eos_token in
/// /tokenizer_info, a list of tokens from /tokenize) and then uses in place of a local copy of the tokenizer.
/// </summary>
public sealed class TokenizerEndpointTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private async Task<(int Status, JsonElement Body)> PostAsync(string path, object body)
    {
        (int status, string text) = await server.PostAsync(path, body);
        return (status, JsonDocument.Parse(text).RootElement.Clone());
    }

    [Fact]
    public async Task Tokenizer_info_names_the_special_tokens_and_the_context()
    {
        using var http = new HttpClient();
        JsonElement info = JsonDocument.Parse(await http.GetStringAsync(new Uri(server.Server.Address, "/tokenizer_info"))).RootElement;
        Assert.Equal(server.Tokenizer.IdToToken(server.Tokenizer.EosId!.Value), info.GetProperty("eos_token").GetString());
        Assert.Equal(server.Tokenizer.IdToToken(server.Tokenizer.BosId!.Value), info.GetProperty("bos_token").GetString());
        Assert.Equal(server.Engine.ContextSize, info.GetProperty("model_max_length").GetInt32());
        Assert.Equal(JsonValueKind.Null, info.GetProperty("chat_template").ValueKind); // stories260K has none
    }

    [Fact]
    public async Task Tokenize_and_detokenize_are_the_served_tokenizers_encode_and_decode()
    {
        const string text = "Once upon a time, there was a little girl named Lily.";
        // As the harness asks: no special tokens.
        var (status, body) = await PostAsync("/tokenize", new { prompt = text, add_special_tokens = false });
        Assert.Equal(200, status);
        int[] ids = [.. body.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32())];
        Assert.Equal(server.Tokenizer.Encode(text, addSpecialTokens: false), ids);
        Assert.Equal(ids.Length, body.GetProperty("count").GetInt32());
        Assert.Equal(server.Engine.ContextSize, body.GetProperty("max_model_len").GetInt32());
        // By default with them (BOS first), as vLLM's.
        (_, body) = await PostAsync("/tokenize", new { prompt = text });
        Assert.Equal(server.Tokenizer.Encode(text), body.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()));

        (status, body) = await PostAsync("/detokenize", new { tokens = ids });
        Assert.Equal(200, status);
        Assert.Equal(text, body.GetProperty("prompt").GetString());
        // Special tokens are written out, as Hugging Face's decode does by default.
        (_, body) = await PostAsync("/detokenize", new { tokens = new[] { server.Tokenizer.BosId!.Value }.Concat(ids) });
        // The first word keeps its space after a special token, as in Hugging Face's decode ("<s> Once").
        Assert.StartsWith(server.Tokenizer.IdToToken(server.Tokenizer.BosId!.Value) + " Once", body.GetProperty("prompt").GetString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// The model field is optional here, as in vLLM's; given, it must be the served model's name, as on the generation
    /// endpoints: a client that meant another model's tokenizer must not get this one's tokens as if they were its own.
    /// </summary>
    [Theory]
    [InlineData("/tokenize", "{\"model\":\"llama\",\"prompt\":\"x\"}", 404, "model")]
    [InlineData("/detokenize", "{\"model\":\"llama\",\"tokens\":[1]}", 404, "model")]
    [InlineData("/tokenize", "{\"model\":5,\"prompt\":\"x\"}", 400, "model")]
    [InlineData("/tokenize", "{\"model\":\"stories260K\",\"prompt\":\"x\"}", 200, null)]
    [InlineData("/detokenize", "{\"model\":null,\"tokens\":[1]}", 200, null)]
    public async Task A_model_named_to_the_tokenizer_must_be_the_served_one(string path, string json, int status, string? param)
    {
        using var http = new HttpClient();
        using var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await http.PostAsync(new Uri(server.Server.Address, path), content);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, text);
        if (param is not null)
        {
            Assert.Equal(param, JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("param").GetString());
        }
    }

    [Theory]
    [InlineData("/tokenize", "{}", "prompt")]
    [InlineData("/tokenize", "{\"prompt\":5}", "prompt")]
    [InlineData("/tokenize", "{\"prompt\":\"x\",\"add_special_tokens\":\"no\"}", "add_special_tokens")]
    [InlineData("/tokenize", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "messages")]
    [InlineData("/detokenize", "{}", "tokens")]
    [InlineData("/detokenize", "{\"tokens\":\"1 2\"}", "tokens")]
    [InlineData("/detokenize", "{\"tokens\":[1,99999]}", "tokens")]
    [InlineData("/detokenize", "{\"tokens\":[1,512]}", "tokens")] // stories260K's ids are 0..511
    [InlineData("/detokenize", "{\"tokens\":[1,-1]}", "tokens")]
    public async Task A_bad_tokenizer_request_is_a_400_naming_the_field(string path, string json, string param)
    {
        using var http = new HttpClient();
        using var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await http.PostAsync(new Uri(server.Server.Address, path), content);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == 400, text);
        Assert.Equal(param, JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    /// <summary>
    /// /tokenize of a long text answers its ids as one array value, written from the ids themselves: each id was a node
    /// of its own (a JsonValue and a list slot, about 60 bytes), so 28 MB of text held 3.2 GB to answer 28 million ids.
    /// What the answer costs beside the encode is counted, on this thread, against a bound of a few bytes an id
    /// (the text read from the body is about 8).
    /// </summary>
    [Fact]
    public void Tokenize_answers_a_long_texts_ids_without_a_node_per_id()
    {
        string text = string.Concat(Enumerable.Repeat("Once upon a time there was a dog. ", 2_000));
        JsonElement request = Copal.Cli.Serving.OpenAiRequests.ParseBody(JsonSerializer.SerializeToUtf8Bytes(new { prompt = text }));
        _ = server.Tokenizer.Encode(text); // whatever the first encode builds once
        long before = GC.GetAllocatedBytesForCurrentThread();
        int[] ids = server.Tokenizer.Encode(text);
        long encode = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        System.Text.Json.Nodes.JsonObject answer = Copal.Cli.Serving.OpenAiRequests.Tokenize(request, server.Engine, CancellationToken.None);
        long tokenize = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(ids.Length > 10_000, $"{ids.Length} ids");
        Assert.InRange((tokenize - encode) / ids.Length, long.MinValue, 16);
        // The same answer as before: the ids as a JSON array of numbers.
        JsonElement written = JsonDocument.Parse(answer.ToJsonString()).RootElement;
        Assert.Equal(ids, written.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()));
        Assert.Equal(ids.Length, written.GetProperty("count").GetInt32());
    }

    /// <summary>
    /// /tokenize encodes its text into the list it answers from: what it allocates on this thread beyond that encode
    /// and the text read from the body is under a byte an id. It took an array of the ids too, copied from the
    /// encode's list (4 bytes an id: 32 MB for 30 MB of text).
    /// </summary>
    [Fact]
    public void Tokenize_answers_from_the_encodes_list_without_a_copy_of_the_ids()
    {
        string text = string.Concat(Enumerable.Repeat("Once upon a time there was a dog. ", 2_000));
        JsonElement request = Copal.Cli.Serving.OpenAiRequests.ParseBody(JsonSerializer.SerializeToUtf8Bytes(new { prompt = text }));
        _ = Copal.Cli.Serving.OpenAiRequests.Tokenize(request, server.Engine, CancellationToken.None); // whatever the first call builds once
        long before = GC.GetAllocatedBytesForCurrentThread();
        _ = request.GetProperty("prompt").GetString();
        long read = GC.GetAllocatedBytesForCurrentThread() - before;
        var ids = new List<int>();
        before = GC.GetAllocatedBytesForCurrentThread();
        server.Tokenizer.EncodeInto(text, addSpecialTokens: true, ids, progress: null, CancellationToken.None);
        long encode = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        System.Text.Json.Nodes.JsonObject answer = Copal.Cli.Serving.OpenAiRequests.Tokenize(request, server.Engine, CancellationToken.None);
        long tokenize = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(ids.Count > 10_000, $"{ids.Count} ids");
        Assert.InRange(tokenize - encode - read, long.MinValue, ids.Count);
        JsonElement written = JsonDocument.Parse(answer.ToJsonString()).RootElement;
        Assert.Equal(ids, written.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()));
        Assert.Equal(ids.Count, written.GetProperty("count").GetInt32());
    }
}
