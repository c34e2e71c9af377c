using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// The select and reject filters and the in test, which @huggingface/jinja lacks, as Jinja2 defines them (Qwen3-Coder's
/// template writes <c>keys() | reject("in", handled_keys)</c>).
/// </summary>
public sealed class SelectRejectFilterTests
{
    [Theory]
    [InlineData("{{ ['type', 'minimum', 'enum', 'x-y'] | reject('in', ['type', 'enum']) | join(',') }}", "minimum,x-y")]
    [InlineData("{{ ['type', 'minimum', 'enum'] | select('in', ['type', 'enum']) | join(',') }}", "type,enum")]
    [InlineData("{{ [1, 2, 3, 4, 5] | select('odd') | join(',') }}", "1,3,5")]
    [InlineData("{{ [1, 2, 3, 4, 5] | reject('odd') | join(',') }}", "2,4")]
    [InlineData("{{ ['a', 'b', 'a'] | reject('equalto', 'a') | join(',') }}", "b")]
    [InlineData("{{ ['', 'x', 0, 1, none] | select | length }}|{{ ['', 'x', 0, 1, none] | reject | length }}", "2|3")]
    [InlineData("{{ ['ab', 'q'] | select('in', 'xaby') | join(',') }}|{{ ['k', 'z'] | select('in', {'k': 1}) | join(',') }}", "ab|k")]
    [InlineData("{{ {'b': 1, 'a': 2}.keys() | reject('in', ['a']) | list | length }}", "1")]
    public void Select_and_reject_keep_the_items_a_test_passes_or_fails(string template, string expected)
    {
        Assert.Equal(expected, new ChatTemplate(template).Render([], false));
    }

    [Theory]
    [InlineData("{{ [1] | select(1) }}", "select takes a test's name")]
    [InlineData("{{ [1] | reject('in') }}", "test 'in' needs an argument")]
    [InlineData("{{ [1] | select('nosuch') }}", "test 'nosuch' is not supported")]
    [InlineData("{{ [1] | select('in', 3) }}", "test 'in' is not defined between an integer and an integer")]
    [InlineData("{{ 1 is in }}", "needs an argument")]
    public void A_select_or_reject_that_cannot_run_is_refused_with_the_reason(string template, string reason)
    {
        var e = Assert.ThrowsAny<ChatTemplateException>(() => new ChatTemplate(template).Render([], false));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }
}
