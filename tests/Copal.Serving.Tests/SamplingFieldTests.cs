using System.Text.Json;
using Copal.Model.Generation;

namespace Copal.Serving.Tests;

/// <summary>
/// OpenAI's logit_bias, presence_penalty and frequency_penalty, and vLLM's min_p, as the server takes them: each
/// reply equals a run of the model alone with the same sampling options.
/// </summary>
public sealed class SamplingFieldTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static readonly int[] s_prompt = [1, 403, 407, 261, 378, 383]; // <s> Once upon a time there

    /// <summary>The reply's text; greedy unless <paramref name="fields"/> sets a temperature (OpenAI's default is 1).</summary>
    private async Task<string> CompleteAsync(string fields)
    {
        fields = fields.Contains("temperature", StringComparison.Ordinal) ? fields : fields + ",\"temperature\":0";
        var (status, body) = await server.PostAsync("/v1/completions", JsonDocument.Parse(
            $"{{\"model\":\"stories260K\",\"prompt\":[{string.Join(',', s_prompt)}],\"max_tokens\":30{fields}}}").RootElement);
        Assert.True(status == 200, body);
        return JsonDocument.Parse(body).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;
    }

    /// <summary>What the model alone continues the prompt with under <paramref name="sampling"/> (no end of sequence within 30 tokens here).</summary>
    private string Alone(SamplingOptions sampling)
    {
        var stopIds = new HashSet<int>(server.Model.Config.EosTokenIds);
        GenerationResult result = new Generator(server.Model).Generate(s_prompt, 30, sampling, stopIds);
        return server.Tokenizer.Decode([.. s_prompt, .. result.GeneratedIds])[server.Tokenizer.Decode(s_prompt).Length..];
    }

    [Fact]
    public async Task Logit_bias_bans_a_token_and_forces_another()
    {
        GenerationResult greedy = new Generator(server.Model).Generate(s_prompt, 1, SamplingOptions.Greedy, new HashSet<int>());
        int first = greedy.GeneratedIds[0];
        string banned = await CompleteAsync($",\"logit_bias\":{{\"{first}\":-100}}");
        Assert.Equal(Alone(new SamplingOptions { LogitBias = new Dictionary<int, float> { [first] = -100 } }), banned);
        Assert.NotEqual(Alone(SamplingOptions.Greedy), banned);
        // Forced, whatever the temperature.
        string forced = await CompleteAsync(",\"logit_bias\":{\"407\":100},\"temperature\":1.5,\"seed\":3");
        Assert.Equal(server.Tokenizer.Decode([.. s_prompt, .. Enumerable.Repeat(407, 30)])[server.Tokenizer.Decode(s_prompt).Length..], forced);
    }

    [Fact]
    public async Task Presence_and_frequency_penalties_steer_the_greedy_reply_as_the_sampler_does()
    {
        string penalized = await CompleteAsync(",\"presence_penalty\":0.5,\"frequency_penalty\":1");
        Assert.Equal(Alone(new SamplingOptions { PresencePenalty = 0.5f, FrequencyPenalty = 1f }), penalized);
        Assert.NotEqual(Alone(SamplingOptions.Greedy), penalized);
    }

    /// <summary>
    /// Each penalty alone reaches the sampler as itself: the two together could not tell them apart (mutation round 6:
    /// presence_penalty read from frequency_penalty passed every test).
    /// </summary>
    [Theory]
    [InlineData(2f, 0f)]
    [InlineData(0f, 2f)]
    public async Task One_penalty_alone_steers_the_greedy_reply_as_the_sampler_does(float presence, float frequency)
    {
        string penalized = await CompleteAsync(FormattableString.Invariant($",\"presence_penalty\":{presence},\"frequency_penalty\":{frequency}"));
        Assert.Equal(Alone(new SamplingOptions { PresencePenalty = presence, FrequencyPenalty = frequency }), penalized);
        Assert.NotEqual(Alone(SamplingOptions.Greedy), penalized);
    }

    [Fact]
    public async Task Min_p_1_leaves_only_the_likeliest_token_at_any_temperature()
    {
        Assert.Equal(Alone(SamplingOptions.Greedy), await CompleteAsync(",\"min_p\":1,\"temperature\":2,\"seed\":5"));
    }

    /// <summary>
    /// A request whose own options leave no token to choose fails alone, naming the option; the engine goes on. In
    /// JSON mode the few tokens allowed after "{" are those the prompt holds, and a repetition penalty of 3e38 sends
    /// their negative logits to −∞; in text mode 1e-38 sends a positive one to +∞. Each once stopped the engine for good.
    /// </summary>
    [Theory]
    [InlineData("Once { upon { a time {", "3e38", true)]
    [InlineData("Once upon a time there was a little girl named Lily. She", "1e-38", false)]
    public async Task Options_that_leave_no_token_fail_their_request_alone(string prompt, string penalty, bool json)
    {
        string format = json ? ",\"response_format\":{\"type\":\"json_object\"}" : "";
        var (status, body) = await server.PostAsync("/v1/completions", JsonDocument.Parse(
            $"{{\"model\":\"stories260K\",\"prompt\":\"{prompt}\",\"max_tokens\":5,\"temperature\":0,\"repetition_penalty\":{penalty}{format}}}").RootElement);
        Assert.True(status == 400, body);
        JsonElement error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("repetition_penalty", error.GetProperty("param").GetString());
        Assert.Contains("left no token to choose", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Null(server.Engine.Fault);
        Assert.Equal(Alone(SamplingOptions.Greedy), await CompleteAsync(""));
    }
}
