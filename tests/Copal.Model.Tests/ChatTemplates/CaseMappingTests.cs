using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// upper, lower, capitalize and the lower/upper tests map case as JavaScript's toUpperCase/toLowerCase do (and Python's
/// str.upper/str.lower, which agree on all but capitalize here): the full mappings, where one character becomes several,
/// and the final sigma. .NET's invariant casing maps one UTF-16 unit to one, so before "ß" stayed "ß" under upper.
/// Expected texts are what @huggingface/jinja 0.5.11 renders; Jinja2 3.1.6 renders the same except "ßa" | capitalize
/// ("Ssa": Python title-cases the first letter and lowers the rest).
/// </summary>
public sealed class CaseMappingTests
{
    [Theory]
    [InlineData("{{ 'Straße' | upper }}", "STRASSE")]
    [InlineData("{{ 'ﬁx ﬂow' | upper }}", "FIX FLOW")]
    [InlineData("{{ 'ŉ ǰ ΐ և ẞ' | upper }}", "ʼN J\u030C \u0399\u0308\u0301 ԵՒ ẞ")]
    [InlineData("{{ 'ᾳ ῳ ᾀ' | upper }}", "ΑΙ ΩΙ ἈΙ")]
    [InlineData("{{ 'ı ſ' | upper }}", "I S")]
    [InlineData("{{ 'straße'.upper() }}", "STRASSE")]
    [InlineData("{{ 'ßa' | capitalize }}", "SSa")]
    [InlineData("{{ 'İ' | lower | length }}|{{ 'İSTANBUL'.lower() }}", "2|i̇stanbul")]
    [InlineData("{{ 'ΟΔΟΣ' | lower }}|{{ 'ΣΑΣ ΣΑΣ.' | lower }}|{{ 'Σ' | lower }}|{{ 'ΑΣ1' | lower }}|{{ 'ΑΣΑ' | lower }}", "οδος|σας σας.|σ|ας1|ασα")]
    [InlineData("{{ 'ΑΣ\u0301' | lower }}|{{ 'Α\u0301Σ' | lower }}|{{ 'ΑΣ\u0301Α' | lower }}|{{ '.Σ' | lower }}", "ας\u0301|α\u0301ς|ασ\u0301α|.σ")]
    [InlineData("{{ 'ß' is upper }}|{{ 'ß' is lower }}|{{ 'SS' is upper }}|{{ 'ǅ' is upper }}", "False|True|True|False")]
    public void Case_mapping_is_the_full_unicode_mapping(string template, string expected)
    {
        Assert.Equal(expected, new ChatTemplate(template).Render([], false));
    }

    [Fact]
    public void Case_insensitive_sorting_folds_with_the_full_lowercase_mapping()
    {
        // JavaScript compares toLowerCase() texts: "İ" folds to "i̇" (i + U+0307), which sorts after "i" and before "j".
        Assert.Equal("i,İ,j", new ChatTemplate("{{ ['j', 'İ', 'i'] | sort | join(',') }}").Render([], false));
    }
}
