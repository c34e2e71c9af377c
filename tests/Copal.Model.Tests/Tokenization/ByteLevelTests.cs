using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Copal.Model.Tokenization;
using Copal.Model.Tokenization.Models;
using Copal.Model.Tokenization.PreTokenizers;
using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tests.Tokenization;

/// <summary>What Copal adds around Microsoft.ML.Tokenizers' byte-level BpeTokenizer, and why.</summary>
public class ByteLevelTests
{
    [Fact]
    public void Ignore_merges_takes_a_whole_vocab_word_that_the_merges_would_split()
    {
        CopalTokenizer t = Tokenizers.Get("llama3");
        // "Ġjeho" is Llama-3 token 101503, but its merges end at [503, 2701, 78]; HF (ignore_merges true) gives the token.
        Assert.Equal([503, 2701, 78], t.Model.EncodeToIds(" jeho", considerPreTokenization: false, considerNormalization: false));
        Assert.Equal([101503], t.Encode(" jeho", addSpecialTokens: false));
        Assert.Equal(" jeho", t.Decode([101503]));
    }

    [Fact]
    public void The_package_bpe_is_built_on_first_use_only()
    {
        CopalTokenizer t = CopalTokenizer.FromDirectory(Tokenizers.Folder("llama3"));
        var stage = Assert.IsType<ByteLevelBpeStage>(t.Stage);
        // Whole vocab words need no merges (ignore_merges), so a short first encode skips building the merge table.
        Assert.Equal([9906, 1917], t.Encode("Hello world"));
        Assert.False(stage.IsBuilt);
        Assert.Equal(Tokenizers.Get("llama3").Encode("Hellozzyx"), t.Encode("Hellozzyx"));
        Assert.True(stage.IsBuilt);
    }

    [Fact]
    public void Split_regex_sees_astral_letters_as_letters_unlike_the_package_regex_pre_tokenizer()
    {
        PreTokenizer ours = Tokenizers.Get("llama3").PreTokenizer!;
        string pattern = Assert.IsType<RegexSplitPreTokenizer>(ours).Regex.Pattern;
        // x, MATHEMATICAL BOLD CAPITAL A (U+1D400, a letter outside the BMP), y: one word for HF's regex on code points.
        const string text = "x\U0001D400y";
        Assert.Equal([(0, 4)], ours.PreTokenize(text));
        var package = new RegexPreTokenizer(new Regex(pattern), null);
        Assert.Equal([(0, 1), (1, 2), (3, 1)], package.PreTokenize(text));
    }

    [Fact]
    public void Add_prefix_space_prepends_one_space_per_piece_and_offsets_stay_in_the_input()
    {
        using TinyTokenizerJson.TempPath folder = TinyTokenizerJson.Folder();
        JsonNode json = JsonNode.Parse(File.ReadAllText(Path.Combine(Tokenizers.Folder("gpt2"), "tokenizer.json")))!;
        json["pre_tokenizer"]!["add_prefix_space"] = true;
        File.WriteAllText(Path.Combine(folder.Path, "tokenizer.json"), json.ToJsonString());
        CopalTokenizer t = CopalTokenizer.FromDirectory(folder.Path);
        CopalTokenizer plain = Tokenizers.Get("gpt2");
        Assert.Equal(plain.Encode(" Hello world"), t.Encode("Hello world"));
        Assert.Equal(plain.Encode(" Hello<|endoftext|> again"), t.Encode("Hello<|endoftext|>again"));
        IReadOnlyList<EncodedToken> tokens = ((Tokenizer)t).EncodeToTokens("Hello world", out string? normalized);
        Assert.Null(normalized);
        Assert.Equal([(0, 5), (5, 6)], tokens.Select(x => x.Offset.GetOffsetAndLength(11)));
    }
}
