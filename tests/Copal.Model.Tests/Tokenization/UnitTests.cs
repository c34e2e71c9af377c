using System.Text;
using Copal.Model.Tokenization.Models;
using Copal.Model.Tokenization.Normalizers;
using Copal.Testing;

namespace Copal.Model.Tests.Tokenization;

/// <summary>The word cache and Unicode normalization.</summary>
public class UnitTests
{
    [Fact]
    public void Word_cache_is_bounded_and_evicts_least_recently_used()
    {
        var cache = new WordCache(2);
        cache.Add("a", [1]);
        cache.Add("b", [2]);
        Assert.True(cache.TryGet("a", out _));   // "b" is now the oldest
        cache.Add("c", [3]);
        Assert.False(cache.TryGet("b", out _));
        Assert.True(cache.TryGet("a", out int[] a));
        Assert.Equal([1], a);
        Assert.Equal(2, cache.Count);
    }

    [Fact]
    public void Word_cache_is_safe_under_concurrent_use()
    {
        var cache = new WordCache(64);
        Parallel.For(0, 20_000, i =>
        {
            string w = (i % 200).ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (cache.TryGet(w, out int[] ids))
            {
                Assert.Equal(i % 200, ids[0]);
            }
            else
            {
                cache.Add(w, [i % 200]);
            }
        });
        Assert.True(cache.Count <= 64);
    }

    [Theory]
    [InlineData("cafe\u0301", NormalizationForm.FormC, "caf\u00e9")]
    [InlineData("caf\u00e9", NormalizationForm.FormD, "cafe\u0301")]
    [InlineData("\u1100\u1161\u11a8", NormalizationForm.FormC, "\uac01")]
    [InlineData("\uac01", NormalizationForm.FormD, "\u1100\u1161\u11a8")]
    [InlineData("a\u0302\u0323", NormalizationForm.FormC, "\u1ead")] // reorder (ccc 220 before 230), then compose twice
    [InlineData("\ufb01 \u2460", NormalizationForm.FormKC, "fi 1")]
    [InlineData("\ufb01", NormalizationForm.FormC, "\ufb01")]
    [InlineData("\u0958", NormalizationForm.FormC, "\u0915\u093c")] // composition exclusion
    [InlineData("\U0001D15E", NormalizationForm.FormC, "\U0001D157\U0001D165")]
    // NFC rewrites only the runs around chars it can change; stable text between and around them is kept as is.
    [InlineData("ab cafe\u0301 x \u1100\u1161\u11a8! \u00e9\u0323 \U0001D400", NormalizationForm.FormC, "ab caf\u00e9 x \uac01! \u1eb9\u0301 \U0001D400")]
    public void Unicode_normalization_forms(string input, NormalizationForm form, string expected)
    {
        Assert.Equal(expected, UnicodeNormalization.Normalize(input, form));
    }

    /// <summary>
    /// NFC of text that is NFC already is that text, not a copy: WikiText holds chars NFC must look at (combining
    /// marks, letters a mark could compose with), none of which it changes. Qwen's encode copied the whole text
    /// twice over for them (a builder and its string, 4 bytes a character: 2.8 times the rest of the encode).
    /// </summary>
    [Fact]
    public void Nfc_of_text_that_is_nfc_already_is_the_same_string()
    {
        string wiki = File.ReadAllText(TestData.Path("text", "wikitext-2-raw-v1", "test.joined.txt"));
        string changed = "ab cafe\u0301 x";

        Assert.Same(wiki, UnicodeNormalization.Normalize(wiki, NormalizationForm.FormC));
        // A run that changes is still rewritten, with the text before and after it kept.
        Assert.Equal(wiki + "ab caf\u00e9 x" + wiki, UnicodeNormalization.Normalize(wiki + changed + wiki, NormalizationForm.FormC));
    }
}
