using Copal.Model.Tokenization;
using Copal.Testing;

namespace Copal.Model.Tests.Tokenization;

/// <summary>
/// A decoder stream that refuses an id stays as it was: the stream kept the refused id, so every later Push and Flush
/// failed on it too ("token id 9999 is not in this tokenizer"), and a caller that went on with a valid id got no text.
/// </summary>
public sealed class DecoderStreamRefusalTests
{
    private readonly CopalTokenizer _tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);

    [Fact]
    public void A_refused_push_leaves_the_stream_as_it_was()
    {
        int[] ids = _tokenizer.Encode("Once upon a time, there was a girl.", addSpecialTokens: false);
        TokenDecoderStream stream = _tokenizer.CreateDecoderStream();
        var text = new System.Text.StringBuilder();
        foreach (int id in ids)
        {
            Assert.Throws<TokenizerException>(() => stream.Push(_tokenizer.VocabSize + 7));
            Assert.Throws<TokenizerException>(() => stream.Push(-1));
            text.Append(stream.Push(id));
        }
        text.Append(stream.Flush());
        Assert.Equal(_tokenizer.Decode(ids), text.ToString());
    }

    [Fact]
    public void A_refused_prime_leaves_the_stream_as_it_was()
    {
        int[] prompt = _tokenizer.Encode("Once upon a time");
        int[] reply = _tokenizer.Encode(" there was a girl.", addSpecialTokens: false);
        TokenDecoderStream stream = _tokenizer.CreateDecoderStream();
        stream.Prime(prompt);
        Assert.Throws<TokenizerException>(() => stream.Prime([1, _tokenizer.VocabSize]));
        string full = _tokenizer.Decode([.. prompt, .. reply]);
        string streamed = string.Concat(reply.Select(stream.Push)) + stream.Flush();
        Assert.Equal(full[_tokenizer.Decode(prompt).Length..], streamed);
    }
}
