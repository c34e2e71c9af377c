using System.ClientModel;
using System.Text.Json;
using Copal.Cli.Serving;
using OpenAI.Chat;

namespace Copal.Serving.Tests;

/// <summary>
/// Several prompts in one completions request, and n choices per prompt on both endpoints: the choices in OpenAI's
/// order (prompt index × n + j), each as its own request would give it, the usage summed, streamed or not.
/// </summary>
public sealed class ChoicesTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private const string Model = "stories260K";
    private const string Completions = "/v1/completions";
    private const string Chat = "/v1/chat/completions";
    private static readonly string[] s_prompts = ["Once upon a time", "The little dog", "Lily and Ben"];
    private static readonly object[] s_messages = [new { role = "user", content = "Tell me a story" }];

    private Task<JsonElement> PostAsync(string path, object body) => server.PostOkAsync(path, body);

    /// <summary>Holds the scheduler (in <see cref="ServerFixture.BeforeAdmission"/>) until this many requests were queued.</summary>
    private void AwaitQueued(long requests)
    {
        if (!SpinWait.SpinUntil(() => server.Engine.Statistics.Started >= requests, TimeSpan.FromMinutes(1)))
        {
            throw new TimeoutException($"{server.Engine.Statistics.Started} requests were queued, waiting for {requests}");
        }
    }

    /// <summary>The choices of a reply, each checked to stand at its own index.</summary>
    private static JsonElement[] Choices(JsonElement reply)
    {
        JsonElement[] choices = [.. reply.GetProperty("choices").EnumerateArray()];
        Assert.Equal(Enumerable.Range(0, choices.Length), choices.Select(c => c.GetProperty("index").GetInt32()));
        return choices;
    }

    private static string[] Texts(JsonElement reply) => [.. Choices(reply).Select(c => c.GetProperty("text").GetString()!)];

    private static string[] Contents(JsonElement reply) => [.. Choices(reply).Select(c => c.GetProperty("message").GetProperty("content").GetString()!)];

    private static (int Prompt, int Completion) Usage(JsonElement reply) =>
        (reply.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), reply.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

    [Fact]
    public async Task Several_prompts_give_the_texts_of_separate_requests_decoded_together()
    {
        var separate = new List<JsonElement>();
        foreach (string p in s_prompts)
        {
            separate.Add(await PostAsync(Completions, new { model = Model, prompt = p, max_tokens = 12, temperature = 0 }));
        }
        // The most sequences the engine held at a decode step while the request ran: all of them, if they were
        // submitted together, and 1 had they run one after another. The admission waits for all of them: taken before
        // the others were queued (a loaded machine), the first prompt's 12 tokens could all be decoded alone.
        int most = 0;
        long started = server.Engine.Statistics.Started;
        server.BeforeAdmission = () => AwaitQueued(started + s_prompts.Length);
        server.BeforeDecodeStep = () => most = Math.Max(most, server.Engine.Statistics.Active);
        JsonElement together;
        try
        {
            together = await PostAsync(Completions, new { model = Model, prompt = s_prompts, max_tokens = 12, temperature = 0 });
        }
        finally
        {
            server.BeforeDecodeStep = null;
            server.BeforeAdmission = null;
        }
        JsonElement[] choices = Choices(together);
        Assert.Equal(s_prompts.Length, choices.Length);
        for (int i = 0; i < s_prompts.Length; i++)
        {
            JsonElement alone = separate[i].GetProperty("choices")[0];
            Assert.Equal(alone.GetProperty("text").GetString(), choices[i].GetProperty("text").GetString());
            Assert.Equal(alone.GetProperty("finish_reason").GetString(), choices[i].GetProperty("finish_reason").GetString());
        }
        Assert.Equal((separate.Sum(r => Usage(r).Prompt), separate.Sum(r => Usage(r).Completion)), Usage(together));
        Assert.Equal(s_prompts.Length, most);

        // The same prompts as token ids: the same texts.
        int[][] ids = [.. s_prompts.Select(p => server.Tokenizer.Encode(p))];
        JsonElement asIds = await PostAsync(Completions, new { model = Model, prompt = ids, max_tokens = 12, temperature = 0 });
        Assert.Equal(Texts(together), Texts(asIds));
        Assert.Equal(Usage(together), Usage(asIds));
    }

    [Fact]
    public async Task A_bad_second_prompt_refuses_the_request_naming_its_index_before_anything_is_decoded()
    {
        long started = server.Engine.Statistics.Started, steps = server.Engine.Statistics.Steps;
        string words = string.Join(" ", Enumerable.Repeat("dog", 600));
        (int status, string text) = await server.PostAsync(Completions, new { model = Model, prompt = new[] { "Once upon a time", words }, max_tokens = 4 });
        Assert.Equal(400, status);
        JsonElement error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.Equal("prompt", error.GetProperty("param").GetString());
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        Assert.StartsWith("prompt[1]: the prompt has ", error.GetProperty("message").GetString(), StringComparison.Ordinal);

        int[] good = server.Tokenizer.Encode("Once upon a time");
        (status, text) = await server.PostAsync(Completions, new { model = Model, prompt = new[] { good, [.. good, 99999] }, max_tokens = 4, n = 2, stream = true });
        Assert.Equal(400, status);
        Assert.Equal("prompt[1]: token id 99999 is outside the vocabulary [0, 512)", JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("message").GetString());

        // Not even the good first prompt was started.
        Assert.Equal(started, server.Engine.Statistics.Started);
        Assert.Equal(steps, server.Engine.Statistics.Steps);
    }

    /// <summary>
    /// Choice j's seed is SplitMix64's j-th output from the request's seed, as documented: checked against the
    /// generator's published first two outputs from seed 0, not against the code's own arithmetic.
    /// </summary>
    [Fact]
    public void Choice_seeds_are_splitmix64s_outputs_from_the_requests_seed()
    {
        Assert.Equal(0xE220A8397B1DCDAFUL, OpenAiChoices.Seed(0, 1));
        Assert.Equal(0x6E789E6AA1B965F4UL, OpenAiChoices.Seed(0, 2));
        Assert.Null(OpenAiChoices.Seed(null, 1));
    }

    [Fact]
    public async Task N_choices_with_a_seed_are_reproducible_differ_and_are_each_the_request_with_its_choice_seed()
    {
        var body = new { model = Model, prompt = "Once upon a time", max_tokens = 16, temperature = 1.0, seed = 42, n = 3 };
        long run = server.Engine.Statistics.PromptTokens, shared = server.Engine.Statistics.SharedPromptTokens;
        // The admission waits for all three choices: taken before the others were queued (a loaded machine), the first
        // ran alone and a second ran the prompt again.
        long started = server.Engine.Statistics.Started;
        server.BeforeAdmission = () => AwaitQueued(started + 3);
        JsonElement first;
        try
        {
            first = await PostAsync(Completions, body);
        }
        finally
        {
            server.BeforeAdmission = null;
        }
        // The prompt ran once; the other two choices, admitted with it, copied its KV cache (and still give the
        // texts of requests that run it themselves, below).
        int promptTokens = Usage(first).Prompt;
        Assert.Equal((promptTokens, 2L * promptTokens), (server.Engine.Statistics.PromptTokens - run, server.Engine.Statistics.SharedPromptTokens - shared));
        string[] texts = Texts(first);
        Assert.Equal(3, texts.Length);
        Assert.Equal(texts, Texts(await PostAsync(Completions, body)));
        Assert.Equal(3, texts.Distinct().Count());
        // Choice j is the request with n 1 and choice j's seed (choice 0's is the request's own): the prompt is
        // counted once, the generated tokens over all choices.
        int completion = 0;
        for (int j = 0; j < 3; j++)
        {
            long seed = unchecked((long)OpenAiChoices.Seed(42, j)!.Value);
            JsonElement alone = await PostAsync(Completions, new { model = Model, prompt = "Once upon a time", max_tokens = 16, temperature = 1.0, seed, n = 1 });
            Assert.Equal(texts[j], Texts(alone).Single());
            Assert.Equal(Usage(alone).Prompt, Usage(first).Prompt);
            completion += Usage(alone).Completion;
        }
        Assert.Equal(completion, Usage(first).Completion);
        Assert.Equal(42UL, OpenAiChoices.Seed(42, 0));
    }

    [Fact]
    public async Task Chat_gives_n_seeded_choices_that_differ_and_reproduce_with_the_prompt_counted_once()
    {
        var body = new { model = Model, messages = s_messages, max_tokens = 16, temperature = 1.0, seed = 7, n = 3 };
        JsonElement first = await PostAsync(Chat, body);
        string[] contents = Contents(first);
        Assert.Equal(3, contents.Length);
        Assert.Equal(contents, Contents(await PostAsync(Chat, body)));
        Assert.Equal(3, contents.Distinct().Count());
        JsonElement one = await PostAsync(Chat, new { model = Model, messages = s_messages, max_tokens = 16, temperature = 1.0, seed = 7 });
        Assert.Equal(contents[0], Contents(one).Single());
        Assert.Equal(Usage(one).Prompt, Usage(first).Prompt);
    }

    [Fact]
    public async Task Greedy_choices_are_identical()
    {
        JsonElement one = await PostAsync(Completions, new { model = Model, prompt = "Once upon a time", max_tokens = 10, temperature = 0 });
        JsonElement three = await PostAsync(Completions, new { model = Model, prompt = "Once upon a time", max_tokens = 10, temperature = 0, n = 3, best_of = 3 });
        Assert.Equal(Enumerable.Repeat(Texts(one).Single(), 3), Texts(three));
        Assert.Equal((Usage(one).Prompt, 3 * Usage(one).Completion), Usage(three));
    }

    [Fact]
    public async Task Choices_of_several_prompts_go_in_prompt_order_then_choice_order()
    {
        string[] prompts = s_prompts[..2];
        JsonElement all = await PostAsync(Completions, new { model = Model, prompt = prompts, max_tokens = 10, temperature = 0.9, seed = 3, n = 2 });
        string[] texts = Texts(all);
        Assert.Equal(4, texts.Length);
        for (int i = 0; i < prompts.Length; i++)
        {
            JsonElement alone = await PostAsync(Completions, new { model = Model, prompt = prompts[i], max_tokens = 10, temperature = 0.9, seed = 3, n = 2 });
            Assert.Equal(Texts(alone), texts[(i * 2)..((i * 2) + 2)]);
        }
    }

    private Task<JsonElement[]> StreamAsync(string path, object body) => server.StreamEventsAsync(path, body);

    [Fact]
    public async Task A_stream_of_several_prompts_and_choices_reassembled_by_index_is_the_whole_reply()
    {
        // Echo and logprobs too: each choice's prompt, text and tokens go with its own index.
        var whole = new { model = Model, prompt = s_prompts[..2], max_tokens = 10, temperature = 0.9, seed = 11, n = 2, echo = true, logprobs = 1 };
        JsonElement reply = await PostAsync(Completions, whole);
        JsonElement[] chunks = await StreamAsync(Completions, new
        {
            whole.model, whole.prompt, whole.max_tokens, whole.temperature, whole.seed, whole.n, whole.echo, whole.logprobs,
            stream = true, stream_options = new { include_usage = true },
        });
        JsonElement[] expected = Choices(reply);
        for (int index = 0; index < expected.Length; index++)
        {
            JsonElement[] mine = [.. chunks.SelectMany(c => c.GetProperty("choices").EnumerateArray()).Where(c => c.GetProperty("index").GetInt32() == index)];
            Assert.Equal(expected[index].GetProperty("text").GetString(), string.Concat(mine.Select(c => c.GetProperty("text").GetString())));
            JsonElement[] logprobs = [.. mine.Select(c => c.GetProperty("logprobs")).Where(l => l.ValueKind == JsonValueKind.Object)];
            foreach (string field in new[] { "tokens", "text_offset" })
            {
                Assert.Equal(expected[index].GetProperty("logprobs").GetProperty(field).EnumerateArray().Select(t => t.ToString()),
                    logprobs.SelectMany(l => l.GetProperty(field).EnumerateArray()).Select(t => t.ToString()));
            }
            // One finish reason for each choice, on its last chunk.
            string?[] finishes = [.. mine.Select(c => c.GetProperty("finish_reason").GetString())];
            Assert.Equal([expected[index].GetProperty("finish_reason").GetString()], finishes.Where(f => f is not null));
            Assert.NotNull(finishes[^1]);
        }
        Assert.All(chunks[..^1], c => Assert.Equal(1, c.GetProperty("choices").GetArrayLength()));
        Assert.Equal(0, chunks[^1].GetProperty("choices").GetArrayLength());
        Assert.Equal(Usage(reply), Usage(chunks[^1]));
    }

    [Fact]
    public async Task A_chat_stream_of_n_choices_gives_each_its_role_content_and_finish_reason()
    {
        var whole = new { model = Model, messages = s_messages, max_tokens = 12, temperature = 0.9, seed = 5, n = 3, logprobs = true };
        JsonElement reply = await PostAsync(Chat, whole);
        JsonElement[] chunks = await StreamAsync(Chat, new
        {
            whole.model, whole.messages, whole.max_tokens, whole.temperature, whole.seed, whole.n, whole.logprobs,
            stream = true, stream_options = new { include_usage = true },
        });
        JsonElement[] expected = Choices(reply);
        Assert.Equal(3, expected.Length);
        for (int index = 0; index < expected.Length; index++)
        {
            JsonElement[] mine = [.. chunks.SelectMany(c => c.GetProperty("choices").EnumerateArray()).Where(c => c.GetProperty("index").GetInt32() == index)];
            Assert.Equal("assistant", mine[0].GetProperty("delta").GetProperty("role").GetString());
            Assert.Equal(expected[index].GetProperty("message").GetProperty("content").GetString(),
                string.Concat(mine.Select(c => c.GetProperty("delta").TryGetProperty("content", out JsonElement t) ? t.GetString() : "")));
            Assert.Equal(expected[index].GetProperty("logprobs").GetProperty("content").GetArrayLength(),
                mine.Select(c => c.GetProperty("logprobs")).Where(l => l.ValueKind == JsonValueKind.Object).Sum(l => l.GetProperty("content").GetArrayLength()));
            Assert.Single(mine, c => c.GetProperty("finish_reason").ValueKind == JsonValueKind.String);
        }
        Assert.Equal(Usage(reply), Usage(chunks[^1]));
    }

    /// <summary>
    /// The official client has no public n (its ChatCompletionOptions.N is internal) and reads the first choice only
    /// (ChatCompletion.Content); n goes in through its JSON patch, and the other choices are in the raw response.
    /// </summary>
    [Fact]
    public async Task The_openai_client_sends_n_through_its_patch_and_reads_the_first_choice()
    {
        ChatClient chat = server.Client().GetChatClient(Model);
        var options = new ChatCompletionOptions { Temperature = 1, Seed = 9, MaxOutputTokenCount = 12 };
#pragma warning disable SCME0001 // the client's JSON patch is marked for evaluation; it is its only way to send n
        options.Patch.Set("$.n"u8, 3);
#pragma warning restore SCME0001
        ClientResult<ChatCompletion> result = await chat.CompleteChatAsync([new UserChatMessage("Tell me a story")], options);
        JsonElement raw = JsonDocument.Parse(result.GetRawResponse().Content.ToString()).RootElement;
        string[] contents = Contents(raw);
        Assert.Equal(3, contents.Length);
        Assert.Equal(contents[0], result.Value.Content[0].Text);
        Assert.Equal(Usage(raw), (result.Value.Usage.InputTokenCount, result.Value.Usage.OutputTokenCount));
        JsonElement one = await PostAsync(Chat, new { model = Model, messages = s_messages, max_tokens = 12, temperature = 1.0, seed = 9 });
        Assert.Equal(contents[0], Contents(one).Single());
    }

    /// <summary>
    /// The usage's prompt_tokens_details.cached_tokens is what the prefix cache held of the prompt, streamed or not,
    /// and with n choices it goes with the prompt, counted once: the choices that copied the first one's prefill did
    /// not add the prompt again.
    /// </summary>
    [Fact]
    public async Task Cached_tokens_are_the_prompts_kept_chunks_counted_once_however_many_choices()
    {
        const int Chunk = Copal.Model.Serving.BatchScheduler.PrefillRows;
        int[] ids = ReplyBits.Prompt(Chunk + 20, seed: 29);
        static int Cached(JsonElement reply) => reply.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        Assert.Equal(0, Cached(await PostAsync(Completions, new { model = Model, prompt = ids, max_tokens = 2 })));
        // The same prompt again: its whole first chunk is in the cache of the slot that ran it.
        Assert.Equal(Chunk, Cached(await PostAsync(Completions, new { model = Model, prompt = ids, max_tokens = 2 })));
        JsonElement[] chunks = await server.StreamEventsAsync(Completions, new { model = Model, prompt = ids, max_tokens = 2, stream = true, stream_options = new { include_usage = true } });
        Assert.Equal(Chunk, Cached(chunks[^1]));
        JsonElement three = await PostAsync(Completions, new { model = Model, prompt = ids, max_tokens = 2, n = 3 });
        Assert.Equal(ids.Length, Usage(three).Prompt);
        Assert.Equal(Chunk, Cached(three));
        // Cached tokens are part of the prompt's, as OpenAI counts them: the total adds the prompt and the completion only.
        Assert.Equal(Usage(three).Prompt + Usage(three).Completion, three.GetProperty("usage").GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task A_request_asking_more_choices_than_the_bound_is_refused_before_any_is_queued()
    {
        long started = server.Engine.Statistics.Started;
        int[][] ones = [.. Enumerable.Repeat(new[] { 1 }, OpenAiRequests.MaxChoicesPerRequest + 1)];
        (int status, string body) = await server.PostAsync(Completions, new { model = Model, prompt = ones, max_tokens = 1 });
        Assert.True(status == 400, body);
        JsonElement error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("prompt", error.GetProperty("param").GetString());
        Assert.Contains($"holds {OpenAiRequests.MaxChoicesPerRequest + 1} prompts, more than the {OpenAiRequests.MaxChoicesPerRequest}", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        (status, body) = await server.PostAsync(Completions, new { model = Model, prompt = ones[..9], n = 128, max_tokens = 1 });
        Assert.True(status == 400, body);
        error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("n", error.GetProperty("param").GetString());
        Assert.Contains("n 128 × 9 prompts asks for 1152 choices", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(started, server.Engine.Statistics.Started);
        // At the bound it runs.
        (status, body) = await server.PostAsync(Completions, new { model = Model, prompt = ones[..8], n = 128, max_tokens = 1, temperature = 0 });
        Assert.True(status == 200, body);
        Assert.Equal(OpenAiRequests.MaxChoicesPerRequest, JsonDocument.Parse(body).RootElement.GetProperty("choices").GetArrayLength());
    }
}
