using Copal.Model.Evaluation;
using Copal.Model.Tokenization;
using Copal.Testing;

namespace Copal.Model.Tests.Tokenization;

/// <summary>
/// Encoding a whole file is one call of seconds (52 MB of WikiText is 13.7 million tokens): it checks its token before
/// each word and reports how far it has come. Before, it ran to its end whatever the token said and told nothing, so
/// Ctrl-C during the tokenizing of perplexity's --data or prune's --calib waited for all of it. Each test cancels from
/// the progress callback or before the call, so the moment is exact and no clock decides the outcome.
/// </summary>
public class EncodeCancellationTests
{
    public static TheoryData<string> Names() => new(Tokenizers.Names);

    // A tokenizer of this class's own: megabytes of WikiText through the shared one would fill its word cache under
    // tests that measure what an encode allocates (EncodeMemoryTests), which run beside these.
    private static CopalTokenizer Own(string name) => CopalTokenizer.FromDirectory(Tokenizers.Folder(name));

    /// <summary>WikiText-2's test text twice: 2.6 million characters, two reports and more before the end.</summary>
    private static readonly Lazy<string> s_long = new(() =>
    {
        string wiki = File.ReadAllText(TestData.Path("text", "wikitext-2-raw-v1", "test.joined.txt"));
        return wiki + "\n\n" + wiki;
    });

    /// <summary>Every shared tokenizer checks its token: SentencePiece BPE without a pre-tokenizer and byte-level BPE (Metaspace below).</summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void A_token_cancelled_at_the_first_report_stops_the_encode_there(string name)
    {
        CopalTokenizer tokenizer = Own(name);
        using var cts = new CancellationTokenSource();
        var reports = new List<TokenizeProgress>();
        var progress = new CallbackProgress<TokenizeProgress>(r =>
        {
            reports.Add(r);
            cts.Cancel();
        });

        Assert.ThrowsAny<OperationCanceledException>(() => tokenizer.Encode(s_long.Value, addSpecialTokens: true, progress, cts.Token));

        // One report, part of the way: nothing was encoded (or reported) after the cancel.
        TokenizeProgress only = Assert.Single(reports);
        Assert.Equal(s_long.Value.Length, only.CharsTotal);
        Assert.InRange(only.CharsDone, 1, only.CharsTotal / 2);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Progress_rises_to_the_whole_text_and_the_ids_are_those_of_a_plain_encode(string name) => EncodeReportingAlongTheWay(Own(name));

    /// <summary>
    /// Encodes the long text with progress: the ids are a plain encode's, and the reports rise along the way to one of
    /// the whole text. Returns the reports.
    /// </summary>
    private static List<TokenizeProgress> EncodeReportingAlongTheWay(CopalTokenizer tokenizer)
    {
        var reports = new List<TokenizeProgress>();

        int[] ids = tokenizer.Encode(s_long.Value, addSpecialTokens: true, new CallbackProgress<TokenizeProgress>(reports.Add), CancellationToken.None);

        Assert.Equal(tokenizer.Encode(s_long.Value, addSpecialTokens: true), ids);
        Assert.True(reports.Count >= 3, $"expected reports along the way and one at the end, got {reports.Count}");
        Assert.Equal(new TokenizeProgress(s_long.Value.Length, s_long.Value.Length), reports[^1]);
        for (int i = 1; i < reports.Count; i++)
        {
            Assert.True(reports[i].CharsDone > reports[i - 1].CharsDone, $"report {i} ({reports[i].CharsDone}) does not pass report {i - 1} ({reports[i - 1].CharsDone})");
        }
        return reports;
    }

    /// <summary>
    /// Llama-2's vocabulary with the layout transformers writes for a SentencePiece tokenizer with legacy=false (no
    /// normalizer; a Metaspace pre-tokenizer, prepend_scheme "first", split false or true). None of the shared
    /// tokenizers has a Metaspace pre-tokenizer, and with split false a piece without added tokens (a whole file) is
    /// one "word": its cancellation and progress must come from within it.
    /// </summary>
    private static CopalTokenizer MetaspaceLlama2(bool split)
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(Tokenizers.Folder("llama2"), "tokenizer.json")))!;
        json["normalizer"] = null;
        json["pre_tokenizer"] = new System.Text.Json.Nodes.JsonObject
        {
            ["type"] = "Metaspace", ["replacement"] = "\u2581", ["prepend_scheme"] = "first", ["split"] = split,
        };
        return TinyTokenizerJson.Load(json);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_metaspace_pre_tokenizer_stops_at_the_first_report_and_reports_along_the_way(bool split)
    {
        CopalTokenizer tokenizer = MetaspaceLlama2(split);
        List<TokenizeProgress> reports = EncodeReportingAlongTheWay(tokenizer);

        using var cts = new CancellationTokenSource();
        var cancelled = new List<TokenizeProgress>();
        Assert.ThrowsAny<OperationCanceledException>(() => tokenizer.Encode(s_long.Value, addSpecialTokens: true, new CallbackProgress<TokenizeProgress>(r =>
        {
            cancelled.Add(r);
            cts.Cancel();
        }), cts.Token));
        Assert.Equal(reports[0], Assert.Single(cancelled));
    }

    [Fact]
    public void A_token_cancelled_before_the_call_encodes_and_reports_nothing()
    {
        CopalTokenizer tokenizer = Own("llama2");
        var reports = new List<TokenizeProgress>();

        Assert.ThrowsAny<OperationCanceledException>(() =>
            tokenizer.Encode("Once upon a time", addSpecialTokens: true, new CallbackProgress<TokenizeProgress>(reports.Add), new CancellationToken(canceled: true)));

        Assert.Empty(reports);
    }

    /// <summary>
    /// TinyStories' documents are encoded one by one under one watch: the progress counts the file's characters, and a
    /// cancel stops within the document being encoded, not after the file.
    /// </summary>
    [Fact]
    public void Documents_of_one_file_report_the_file_and_stop_at_the_first_report_when_cancelled()
    {
        CopalTokenizer tokenizer = Own("stories260K");
        string sample = File.ReadAllText(TestData.Path("text", "tinystories", "sample.txt"));
        string text = string.Join("\n" + TextDataset.DocumentSeparator + "\n", Enumerable.Repeat(sample, 8));
        var reports = new List<TokenizeProgress>();

        int[] ids = TextDataset.TokenizeText(tokenizer, text, TextLayout.Documents, new CallbackProgress<TokenizeProgress>(reports.Add), CancellationToken.None);

        Assert.Equal(TextDataset.TokenizeText(tokenizer, text, TextLayout.Documents), ids);
        Assert.True(reports.Count >= 2, $"expected a report along the way and one at the end, got {reports.Count}");
        Assert.Equal(new TokenizeProgress(text.Length, text.Length), reports[^1]);

        using var cts = new CancellationTokenSource();
        var cancelled = new List<TokenizeProgress>();
        Assert.ThrowsAny<OperationCanceledException>(() => TextDataset.TokenizeText(tokenizer, text, TextLayout.Documents,
            new CallbackProgress<TokenizeProgress>(r =>
            {
                cancelled.Add(r);
                cts.Cancel();
            }), cts.Token));
        Assert.Equal(reports[0], Assert.Single(cancelled));
    }
}
