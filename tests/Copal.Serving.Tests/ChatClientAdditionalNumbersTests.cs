using Copal.Model.Chat;
using Copal.Model.Serving;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;
using Microsoft.Extensions.AI;

namespace Copal.Serving.Tests;

/// <summary>
/// min_p and repetition_penalty, the numbers <see cref="CopalChatClient"/> maps from ChatOptions.AdditionalProperties
/// onto the request, of any numeric type (as the other servers' fields there are read): a short or a byte was refused
/// as "min_p must be a number, got Int16", and that refusal alone did not name the ChatOptions entry, as every other
/// one does.
/// </summary>
public sealed class ChatClientAdditionalNumbersTests : IDisposable
{
    private readonly CpuBackend _backend = new();
    private readonly InferenceEngine _engine;
    private readonly CopalChatClient _client;
    private readonly ChatMessage[] _chat = [new ChatMessage(ChatRole.User, "The little dog")];

    public ChatClientAdditionalNumbersTests()
    {
        _engine = InferenceEngine.Load(TestData.Stories260K, _backend);
        _client = new CopalChatClient(_engine);
    }

    public void Dispose()
    {
        _client.Dispose();
        _engine.Dispose();
        _backend.Dispose();
    }

    private static ChatOptions With(string name, object? value) => new() { MaxOutputTokens = 2, AdditionalProperties = new() { [name] = value } };

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
