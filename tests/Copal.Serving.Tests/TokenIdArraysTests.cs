using System.Text;
using System.Text.Json;
using Copal.Cli.Serving;

namespace Copal.Serving.Tests;

/// <summary>
/// Token ids read apart from a body's document (<see cref="TokenIdArrays"/>) are checked as the document's array is:
/// every body here gets the same prompts, or the same error (status, param, code, message), read either way. The
/// bodies are those a reader could tell apart: each shape, empty arrays, numbers that are not 32-bit integers, a field
/// given twice or escaped, text that is not text elsewhere, JSON that is not valid after the ids, nesting past the limit.
/// </summary>
public sealed class TokenIdArraysTests : IDisposable
{
    private readonly Stories260KEngine _stories = new();

    public static TheoryData<string> Prompts() =>
    [
        "[1,2,3]", "[[1,2],[3]]", "[[1]]", "[]", "[[]]", "[[1],[]]", "[[],[1]]", "[1,[2]]", "[[1],2]", "[1.5]", "[1,1e400]", "[2147483648]",
        "[-1]", "[-0]", "[1e2]", "[1.0]", "[99999]", "[[1],[2.5]]", "[[1],[1,-2147483649,2.5]]", "[[\"a\"]]", "[[1,\"a\"]]", "[[1,[2]]]",
        "[[1],{\"a\":1}]", "[true]", "[null]", "[[null]]", "[\"a\",1]", "[1,\"a\"]", "\"x\"", "[\"a\",\"b\"]", "{}", "1", "null",
        "[[1,2],[3,4],[5]]", "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43]",
        "[[1.25e-300000000000000000000000000000000000000000000]]",
        "[1e0]", "[1E+0]", "[1.0e0]", "[-0.0]", "[01]", "[ 1 , 2 ]", "[[ ],[1]]", "[[],[]]", "[[1,2],[[3]]]", "[[[1]]]",
    ];

    [Theory]
    [MemberData(nameof(Prompts))]
    public void A_prompt_read_apart_is_checked_as_the_documents(string prompt)
    {
        foreach (string rest in new[] { "", ",\"n\":2", ",\"n\":0", ",\"temperature\":\"hot\"", ",\"max_tokens\":1,\"prompt\":[7]" })
        {
            Same(Completion, "{\"model\":\"stories260K\",\"prompt\":" + prompt + rest + "}");
        }
    }

    [Theory]
    [InlineData("{\"model\":\"stories260K\",\"pr\\u006fmpt\":[5,6]}")]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[5],\"pr\\u006fmpt\":[[6]]}")]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[5],\"Prompt\":[6]}")]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[5],\"stop\":\"\\ud800\"}")]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[[5],[6]],\"x\":{\"prompt\":\"a\"}}")]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[5]} x")]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[5,")]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[5],}")]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[5]/**/}")]
    [InlineData("[[5]]")]
    [InlineData("\uFEFF{\"model\":\"stories260K\",\"prompt\":[5,6]}")]
    [InlineData("\uFEFF\uFEFF{\"model\":\"stories260K\",\"prompt\":[5,6]}")]
    [InlineData("\uFEFF\uFEFF{\"model\":\"stories260K\",\"prompt\":\"a\"}")]
    [InlineData("{\"\\u0070\\u0072\\u006F\\u006d\\u0070\\u0074\":[5,6],\"model\":\"stories260K\"}")]
    [InlineData("{\"prompt\":[5],\"x\":{\"prompt\":[[6]],\"y\":[{\"prompt\":1}]},\"model\":\"stories260K\"}")]
    [InlineData(" {\"prompt\" : [ 5 , 6 ] ,\"model\":\"stories260K\"} ")]
    [InlineData("{\"model\":\"stories260K\",\"prompt\":[5]}\uFEFF")]
    public void A_body_around_the_ids_is_read_as_the_documents(string body) => Same(Completion, body);

    [Fact]
    public void Nesting_past_the_limit_is_refused_where_the_document_refuses_it()
    {
        Same(Completion, "{\"model\":\"stories260K\",\"prompt\":[[5]],\"x\":" + new string('[', 64) + new string(']', 64) + "}");
        Same(Completion, "{\"model\":\"stories260K\",\"prompt\":[[5]],\"x\":" + new string('[', 62) + new string(']', 62) + "}");
    }

    [Fact]
    public void More_prompts_than_a_request_may_ask_for_are_refused_as_the_documents_before_any_is_read()
    {
        string many = "[" + string.Join(",", Enumerable.Repeat("[1.5]", OpenAiRequests.MaxChoicesPerRequest + 1)) + "]";
        Same(Completion, "{\"model\":\"stories260K\",\"prompt\":" + many + "}");
        Same(Completion, "{\"model\":\"stories260K\",\"prompt\":" + many[..^1] + ",[]]}");
    }

    [Theory]
    [InlineData("[1,2,3]")]
    [InlineData("[]")]
    [InlineData("[-1]")]
    [InlineData("[512]")]
    [InlineData("[3,4,511,512,1.5]")]
    [InlineData("[3,1.5,512]")]
    [InlineData("[-0,1e1]")]
    [InlineData("[1,2147483648]")]
    [InlineData("[1,\"a\"]")]
    [InlineData("[[1]]")]
    [InlineData("[1,[2]]")]
    [InlineData("[1,null]")]
    [InlineData("\"x\"")]
    public void Detokenized_ids_read_apart_are_checked_as_the_documents(string tokens)
    {
        Same(Detokenize, "{\"tokens\":" + tokens + "}");
        Same(Detokenize, "{\"model\":\"stories260K\",\"tokens\":" + tokens + "}");
        Same(Detokenize, "{\"model\":\"other\",\"tokens\":" + tokens + "}");
        Same(Detokenize, "{\"tokens\":" + tokens + ",\"tokens\":[5]}");
        Same(Detokenize, "\uFEFF\uFEFF{\"tokens\":" + tokens + "}");
    }

    [Fact]
    public void Only_ids_go_apart_and_only_once()
    {
        Assert.NotNull(Split("{\"prompt\":[1,2]}", "prompt", nestedAllowed: true));
        Assert.True(Split("{\"prompt\":[[1],[2,3]]}", "prompt", nestedAllowed: true)!.Nested);
        Assert.Null(Split("{\"prompt\":[[1],[2,3]]}", "prompt", nestedAllowed: false));
        Assert.Null(Split("{\"prompt\":[1],\"prompt\":[2]}", "prompt", nestedAllowed: true));
        Assert.Null(Split("{\"prompt\":[1,\"a\"]}", "prompt", nestedAllowed: true));
        Assert.Null(Split("{\"prompt\":[]}", "prompt", nestedAllowed: true));
        Assert.Null(Split("{\"x\":{\"prompt\":[1]}}", "prompt", nestedAllowed: true));
        Assert.Null(Split("{\"prompt\":[1]", "prompt", nestedAllowed: true));
    }

    private static TokenIdArrays? Split(string json, string field, bool nestedAllowed) =>
        TokenIdArrays.Split(Encoding.UTF8.GetBytes(json), field, nestedAllowed).Ids;

    private string Completion(byte[] body, bool apart)
    {
        OpenAiRequest request = apart
            ? OpenAiRequests.Completion(OpenAiRequests.ParseBody(body, "prompt", nestedAllowed: true, out TokenIdArrays? ids), _stories.Engine, ids)
            : OpenAiRequests.Completion(OpenAiRequests.ParseBody(body), _stories.Engine);
        return string.Join(";", request.Prompts.Select(p => p.Prompt ?? string.Join(",", p.PromptIds!))) + $" n={request.N}";
    }

    private string Detokenize(byte[] body, bool apart) => (apart
        ? OpenAiRequests.Detokenize(OpenAiRequests.ParseBody(body, "tokens", nestedAllowed: false, out TokenIdArrays? ids), _stories.Engine, ids)
        : OpenAiRequests.Detokenize(OpenAiRequests.ParseBody(body), _stories.Engine)).ToJsonString();

    /// <summary><paramref name="read"/>'s outcome for <paramref name="body"/>, its ids read apart and in the document: the same.</summary>
    private static void Same(Func<byte[], bool, string> read, string body)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(body);
        Assert.Equal(Outcome(() => read(bytes, false)), Outcome(() => read(bytes, true)));
    }

    private static string Outcome(Func<string> read)
    {
        try
        {
            return "ok " + read();
        }
        catch (OpenAiException e)
        {
            return $"{e.Status} {e.Param} {e.Code} {e.Type} {e.Message}";
        }
    }

    public void Dispose() => _stories.Dispose();
}
