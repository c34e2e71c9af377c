using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// dictsort, which both references have (@huggingface/jinja as a mapping method usable as a filter, Jinja2 as a filter):
/// a mapping's (key, value) pairs sorted by key or value, case-insensitively unless asked. Expected texts are what
/// @huggingface/jinja 0.5.11 and Jinja2 3.1.6 render; the pairs print as Jinja2 prints them, as Python tuples (the
/// reference wrote JSON lists).
/// </summary>
public sealed class DictsortFilterTests
{
    [Theory]
    [InlineData("{% for k, v in {'b': 1, 'A': 2, 'a': 3} | dictsort %}{{ k }}={{ v }},{% endfor %}", "A=2,a=3,b=1,")]
    [InlineData("{{ {'b': 1, 'A': 2, 'a': 3} | dictsort }}", "[('A', 2), ('a', 3), ('b', 1)]")]
    [InlineData("{% for k, v in {'b': 1, 'a': 3, 'A': 2} | dictsort(true) %}{{ k }}{% endfor %}", "Aab")]
    [InlineData("{% for k, v in {'b': 1, 'a': 3, 'A': 2} | dictsort %}{{ k }}{% endfor %}", "aAb")]
    [InlineData("{% for k, v in {'x': 2, 'y': 1, 'z': 3} | dictsort(false, 'value') %}{{ k }}{% endfor %}", "yxz")]
    [InlineData("{% for k, v in {'x': 2, 'y': 1, 'z': 3} | dictsort(by='value', reverse=true) %}{{ k }}{% endfor %}", "zxy")]
    [InlineData("{% for k, v in {'b': 1, 'A': 2, 'a': 3} | dictsort(reverse=true) %}{{ k }}{% endfor %}", "bAa")]
    [InlineData("{{ {} | dictsort | length }}", "0")]
    public void Dictsort_sorts_the_pairs_of_a_mapping(string template, string expected)
    {
        Assert.Equal(expected, new ChatTemplate(template).Render([], false));
    }

    [Theory]
    [InlineData("{{ {'b': 1} | dictsort(by='x') }}", "line 1, column 15: dictsort by must be 'key' or 'value'")]
    [InlineData("{{ {'b': 1} | dictsort(1) }}", "line 1, column 15: dictsort case_sensitive must be a boolean")]
    [InlineData("{{ [1] | dictsort }}", "line 1, column 10: filter 'dictsort' is not supported on a list")]
    public void A_dictsort_that_cannot_run_is_refused_with_the_reason(string template, string reason)
    {
        var e = Assert.ThrowsAny<ChatTemplateException>(() => new ChatTemplate(template).Render([], false));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }
}
