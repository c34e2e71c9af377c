using System.Text;
using Copal.Model.Evaluation;
using Copal.Model.Tokenization;

namespace Copal.Model.Tests.Tokenization;

/// <summary>
/// Encoding a long text (a calibration or evaluation file of tens of megabytes) holds the text and its ids, not a list
/// of every word of it: the split regex's words are encoded as they are matched. Before, two lists of (offset, length)
/// pairs (the matches, sized a quarter of the text's length, and the words) came to about 4 bytes a character beside
/// the text's 2, and tokenizing a 52 MB file failed in a 600 MB container.
/// </summary>
[Collection(EncodeAllocationCollection.Name)]
public class EncodeMemoryTests
{
    /// <summary>The byte-level tokenizers, whose split regex runs over the whole text.</summary>
    public static TheoryData<string> SplitTokenizers() => new() { "gpt2", "llama3", "qwen3" };

    [Theory]
    [MemberData(nameof(SplitTokenizers))]
    public void Encoding_a_long_text_allocates_its_ids_and_no_list_of_its_words(string name)
    {
        CopalTokenizer t = Tokenizers.Get(name);
        string text = Repeated("the cat sat on the mat. ", 1 << 20);
        long allocated = EncodeAllocations(t, text, out int tokens);
        Assert.InRange(allocated, 0, IdsBytes(text, tokens));
    }

    /// <summary>
    /// TinyStories' documents are tokenized one by one (each with BOS) into one list of ids, each document copied out
    /// of the text once: the text split, each piece trimmed into another copy, each document's ids in a list and an
    /// array of their own and then in a list grown by concatenation, allocated twice what the Raw layout does.
    /// </summary>
    [Fact]
    public void Tokenizing_documents_allocates_what_the_raw_layout_does_and_one_copy_of_the_text()
    {
        CopalTokenizer t = Tokenizers.Get("stories260K");
        string sample = File.ReadAllText(Copal.Testing.TestData.Path("text", "tinystories", "sample.txt"));
        string text = string.Join("\n" + TextDataset.DocumentSeparator + "\n", Enumerable.Repeat(sample, 4));
        TextDataset.TokenizeText(t, text, TextLayout.Documents);

        long raw = Allocated(() => TextDataset.TokenizeText(t, text, TextLayout.Raw));
        long documents = Allocated(() => TextDataset.TokenizeText(t, text, TextLayout.Documents));

        Assert.InRange(documents, 0, raw + (2L * text.Length) + (256 << 10));
    }

    private static long Allocated(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    /// <summary>
    /// Qwen's NFC normalizer looks at WikiText's combining marks and changes none of them: the encode holds the text
    /// itself, where it had allocated two copies of it (4 bytes a character, 2.8 times the ids' share).
    /// </summary>
    [Fact]
    public void Encoding_text_that_is_nfc_already_allocates_its_ids_and_no_copy_of_it()
    {
        CopalTokenizer t = Tokenizers.Get("qwen3");
        string text = File.ReadAllText(Copal.Testing.TestData.Path("text", "wikitext-2-raw-v1", "test.joined.txt"));
        long allocated = EncodeAllocations(t, text, out int tokens);
        Assert.InRange(allocated, 0, IdsBytes(text, tokens));
    }

    /// <summary>
    /// A byte-level file without a split regex hands its whole text to the model as one word: merged whole, its
    /// symbols, links and queue came to about 70 bytes a character. Cut where no merge joins two bytes, its parts go
    /// through the word cache as words do (<see cref="UnsplitByteLevelTests"/>).
    /// </summary>
    [Theory]
    [MemberData(nameof(SplitTokenizers))]
    public void Encoding_a_long_text_without_a_split_regex_allocates_its_ids_and_not_a_merge_of_it_whole(string name)
    {
        CopalTokenizer t = UnsplitByteLevelTests.Unsplit(name);
        string text = Repeated("the cat sat on the mat. ", 1 << 20);
        long allocated = EncodeAllocations(t, text, out int tokens);
        Assert.InRange(allocated, 0, IdsBytes(text, tokens));
    }

    /// <summary>
    /// Text with a code point past the BMP (one is enough) runs the regex on a stand-in string of one char per code
    /// point (one copy of the text); its matches are mapped back to the text's offsets without a table of an int per
    /// character.
    /// </summary>
    [Theory]
    [MemberData(nameof(SplitTokenizers))]
    public void Encoding_a_long_text_with_astral_letters_allocates_one_stand_in_copy_beside_its_ids(string name)
    {
        CopalTokenizer t = Tokenizers.Get(name);
        string text = "\U00020000 " + Repeated("the cat sat on the mat. ", 1 << 20);
        long allocated = EncodeAllocations(t, text, out int tokens);
        Assert.InRange(allocated, 0, IdsBytes(text, tokens) + (2L * text.Length));
    }

    /// <summary>
    /// Llama-2's (and Mistral's) normalizer prepends "▁" and replaces every space with "▁": one copy of the text,
    /// written in one pass, where the prepend and the replace had each made their own (4 bytes a character beside the
    /// text's 2).
    /// </summary>
    [Theory]
    [InlineData("llama2")]
    [InlineData("mistral")]
    public void Encoding_a_long_text_with_a_prepend_and_replace_normalizer_allocates_one_normalized_copy_beside_its_ids(string name)
    {
        CopalTokenizer t = Tokenizers.Get(name);
        string text = Repeated("the cat sat on the mat. ", 1 << 20);
        long allocated = EncodeAllocations(t, text, out int tokens);
        Assert.InRange(allocated, 0, IdsBytes(text, tokens) + (2L * (text.Length + 1)));
    }

    /// <summary>
    /// <see cref="CopalTokenizer.EncodeInto(string, bool, List{int}, IProgress{TokenizeProgress}, CancellationToken)"/> appends the ids Encode returns to the caller's list, after what it held,
    /// and allocates that list's room and no array of them: 4 bytes an id less than Encode.
    /// </summary>
    [Theory]
    [InlineData("stories260K")]
    [InlineData("llama3")]
    public void Encoding_into_a_list_appends_the_ids_and_allocates_no_array_of_them(string name)
    {
        CopalTokenizer t = Tokenizers.Get(name);
        string text = Repeated("the cat sat on the mat. ", 1 << 20);
        long encoded = EncodeAllocations(t, text, out int tokens);
        List<int> ids = [7];
        t.EncodeInto(text, addSpecialTokens: true, ids, progress: null, CancellationToken.None);
        Assert.Equal([7, .. t.Encode(text)], ids);

        ids = [];
        long before = GC.GetAllocatedBytesForCurrentThread();
        t.EncodeInto(text, addSpecialTokens: false, ids, progress: null, CancellationToken.None);
        long into = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(tokens, ids.Count);
        Assert.InRange(into, 0, encoded - ((long)tokens * sizeof(int)));
    }

    private static string Repeated(string piece, int chars)
    {
        var sb = new StringBuilder(chars + piece.Length);
        while (sb.Length < chars)
        {
            sb.Append(piece);
        }
        return sb.ToString();
    }

    // The second encode of the text: the first fills the word cache and builds the BPE model.
    private static long EncodeAllocations(CopalTokenizer t, string text, out int tokens)
    {
        t.Encode(text, addSpecialTokens: false);
        long before = GC.GetAllocatedBytesForCurrentThread();
        tokens = t.Encode(text, addSpecialTokens: false).Length;
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    // Encode's list of ids (sized a third of the text's length) and the array it returns, with 64 KiB for the rest.
    private static long IdsBytes(string text, int tokens) => ((((long)text.Length / 3) + 4) * sizeof(int)) + ((long)tokens * sizeof(int)) + (64 << 10);
}

/// <summary>
/// Tests that count what an encode allocates on its thread: xUnit runs them after, not beside, all others, so that
/// what another test does at the same time (a first encode that builds a tokenizer's tables) is not counted. Encodes
/// that meet no longer build a regex runner per match (<see cref="ConcurrentEncodeTests"/>): beside
/// EncodeCancellationTests' encodes of WikiText the counts had failed in two runs of five.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EncodeAllocationCollection
{
    public const string Name = "encode allocations";
}
