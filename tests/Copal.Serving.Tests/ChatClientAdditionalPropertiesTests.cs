using System.Text.Json;
using Copal.Model.Chat;
using Copal.Model.Serving;
using Microsoft.Extensions.AI;

namespace Copal.Serving.Tests;

/// <summary>
/// What <see cref="CopalChatClient"/> reads from ChatOptions.AdditionalProperties, where a caller of an OpenAI-compatible
/// server gives the fields OpenAI's API lacks.
/// <list type="bullet">
/// <item>vLLM's and llama.cpp's fields that copal does not implement: the server refuses them (400
/// unsupported_parameter), and the client ignored them, so typical_p 0.5 or continue_final_message true gave a reply
/// made without them. Refused now as the server refuses them; their neutral values and other keys are accepted.</item>
/// <item>min_p and repetition_penalty, the numbers it maps onto the request, of any numeric type (as the other servers'
/// fields there are read): a short or a byte was refused as "min_p must be a number, got Int16", and that refusal alone
/// did not name the ChatOptions entry, as every other one does.</item>
/// </list>
/// </summary>
public sealed class ChatClientAdditionalPropertiesTests : IDisposable
{
    private readonly Stories260KEngine _stories = new(new EngineOptions());
    private readonly CopalChatClient _client;
    private readonly ChatMessage[] _chat = [new ChatMessage(ChatRole.User, "The little dog")];

    public ChatClientAdditionalPropertiesTests() => _client = new CopalChatClient(_stories.Engine);

    public void Dispose()
    {
        _client.Dispose();
        _stories.Dispose();
    }

    private static ChatOptions With(string name, object? value) => new() { MaxOutputTokens = 2, AdditionalProperties = new() { [name] = value } };

    [Theory]
    [InlineData("typical_p", 0.5, "0.5")]
    [InlineData("min_tokens", 5, "5")]
    [InlineData("ignore_eos", true, "true")]
    [InlineData("guided_regex", "[a-z]+", "\"[a-z]+\"")]
    [InlineData("continue_final_message", true, "true")]
    [InlineData("echo", true, "true")]
    public async Task A_field_copal_does_not_implement_is_refused_as_the_server_refuses_it(string name, object value, string shown)
    {
        foreach (object given in new[] { value, JsonSerializer.SerializeToElement(value) })
        {
            NotSupportedException e = Assert.Throws<NotSupportedException>(() => _client.ToRequest(_chat, With(name, given)));
            Assert.StartsWith($"ChatOptions.AdditionalProperties[\"{name}\"] is not supported by copal, got {shown}; ", e.Message, StringComparison.Ordinal);
            await Assert.ThrowsAsync<NotSupportedException>(() => _client.GetResponseAsync(_chat, With(name, given)));
        }
    }

    /// <summary>
    /// A value JSON cannot hold is no neutral value: it is refused as any other, naming the field and the value. A NaN or
    /// an infinity escaped as System.Text.Json's ArgumentException about JsonNumberHandling, and a default JsonElement as
    /// "Operation is not valid due to the current state of the object".
    /// </summary>
    [Theory]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "Infinity")]
    [InlineData(float.NegativeInfinity, "-Infinity")]
    public void A_value_json_cannot_hold_is_refused_naming_the_field(object value, string shown)
    {
        NotSupportedException e = Assert.Throws<NotSupportedException>(() => _client.ToRequest(_chat, With("typical_p", value)));
        Assert.StartsWith($"ChatOptions.AdditionalProperties[\"typical_p\"] is not supported by copal, got {shown}; ", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<NotSupportedException>(() => _client.ToRequest(_chat, With("bad_words", new[] { value })));
        Assert.StartsWith("ChatOptions.AdditionalProperties[\"bad_words\"] is not supported by copal, got ", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<NotSupportedException>(() => _client.ToRequest(_chat, With("echo", default(JsonElement))));
        Assert.StartsWith("ChatOptions.AdditionalProperties[\"echo\"] is not supported by copal, got an undefined JsonElement; ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Neutral_values_and_other_keys_are_accepted()
    {
        string greedy = (await _client.GetResponseAsync(_chat, new ChatOptions { MaxOutputTokens = 2 })).Text;
        foreach ((string name, object? value) in new (string, object?)[]
        {
            ("typical_p", 1), ("typical_p", 1.0), ("ignore_eos", false), ("stop_token_ids", Array.Empty<int>()), ("grammar", ""),
            ("top_n_sigma", -1), ("add_generation_prompt", true), ("echo", false), ("typical_p", null), ("user_tag", "x"),
        })
        {
            Assert.Equal(greedy, (await _client.GetResponseAsync(_chat, With(name, value))).Text);
        }
    }

    [Fact]
    public void Numbers_of_every_numeric_type_are_taken_and_anything_else_is_refused_naming_the_entry()
    {
        foreach (object fraction in new object[] { (Half)0.5, 0.5f, 0.5m })
        {
            Assert.Equal(0.5f, _client.ToRequest(_chat, With("min_p", fraction)).MinP);
        }
        foreach (object one in new object[] { (short)1, (byte)1, (sbyte)1, (ushort)1, 1u, 1ul })
        {
            Assert.Equal(1f, _client.ToRequest(_chat, With("min_p", one)).MinP);
        }
        Assert.Equal(2f, _client.ToRequest(_chat, With("repetition_penalty", (byte)2)).RepetitionPenalty);
        CompletionRequestException e = Assert.Throws<CompletionRequestException>(() => _client.ToRequest(_chat, With("min_p", "0.5")));
        Assert.Equal("ChatOptions.AdditionalProperties[\"min_p\"]: min_p must be a number, got String", e.Message);
        Assert.Equal("min_p", e.ParamName);
        // logit_bias's values are read the same way.
        Assert.Equal(-3f, _client.ToRequest(_chat, With("logit_bias", new Dictionary<int, object> { [5] = (short)-3 })).LogitBias![5]);
        e = Assert.Throws<CompletionRequestException>(() => _client.ToRequest(_chat, With("logit_bias", new Dictionary<int, object> { [5] = "x" })));
        Assert.Equal("ChatOptions.AdditionalProperties[\"logit_bias\"]: logit_bias must be a number, got String", e.Message);
    }
}
