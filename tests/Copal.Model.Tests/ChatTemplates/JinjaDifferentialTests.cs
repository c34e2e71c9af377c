using Copal.Model.ChatTemplates;
using Copal.Testing;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Cases found by rendering random templates with Python's Jinja2 (set up as transformers sets it up),
/// @huggingface/jinja and this renderer, where this renderer wrote text Jinja2 does not write. The expected strings
/// are Jinja2 3.1.6's.
/// </summary>
public class JinjaDifferentialTests
{
    private static readonly ChatTemplateMessage[] s_user = [new("user", "hi")];

    private static string Render(string template) => new ChatTemplate(template).Render(s_user, addGenerationPrompt: false);

    // Items or arguments with no comma between them are refused, never misread (the reference read `1e3` as `1 e3`,
    // two items, and wrote `[1, undefined]`; an exponent is read as Jinja2 reads it, FloatLiteralTests).
    [Theory]
    [InlineData("{% macro m(a b) %}{% endmacro %}", "expected ',' or ), found 'b'", "line 1, column 14")]
    [InlineData("{{ ['a' 'b' x] }}", "expected ',' or ], found 'x'", "line 1, column 13")]
    public void Items_without_a_comma_between_them_are_refused(string template, string message, string position)
    {
        var e = Assert.Throws<ChatTemplateException>(() => new ChatTemplate(template));
        Assert.True(e.Message.Contains(message, StringComparison.Ordinal) && e.Message.Contains(position, StringComparison.Ordinal), e.Message);
    }

    [Fact]
    public void Commas_still_separate_items_and_a_trailing_comma_is_allowed()
    {
        // Adjacent string literals are one string, as in Jinja2: ['a' 'b'] is ['ab'].
        Assert.Equal("[1, 2]|['ab']|{'a': 1}|b", Render("{{ [1, 2,] }}|{{ ['a' 'b'] }}|{{ {'a': 1,} }}|{{ {}.get('x', 'b',) }}"));
    }

    // A negative step with an explicit stop of -1 stops before the last item, as Python slices: the reference took -1
    // as "no stop" and wrote 'fdb' and [6, 4, 2] for these.
    [Theory]
    [InlineData("{{ 'abcdef'[-1:-1:-2] }}", "")]
    [InlineData("{{ [1, 2, 3, 4, 5, 6][-1:-1:-2] }}", "[]")]
    [InlineData("{{ 'abcdef'[3:-1:-1] }}", "")]
    [InlineData("{{ 'abcdef'[5:-1:-1] }}", "")]
    [InlineData("{{ 'abcdef'[5:-2:-1] }}", "f")]
    [InlineData("{{ 'abcdef'[::-1] }}|{{ 'abcdef'[:1:-1] }}|{{ 'abcdef'[-2:-5:-1] }}|{{ 'abcdef'[5:-10:-2] }}", "fedcba|fedc|edc|fdb")]
    public void Negative_step_slices_stop_where_python_stops(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    // Filter blocks were refused, though the reference renders them and Fireworks' firefunction-v2 template writes its
    // system prompt in one ({%- filter trim -%}...{%- endfilter -%}); Jinja2 also takes a chain of filters.
    [Theory]
    [InlineData("{% filter upper %}a{{ 'b' }}{% endfilter %}", "AB")]
    [InlineData("{% filter trim | upper %}  ab  {% endfilter %}|{% filter replace('a', 'b') %}aa{% endfilter %}", "AB|bb")]
    [InlineData("{%- set suffix -%}\n{%- filter trim -%}\n  In addition, call functions.\n\n{%- endfilter -%}\n{%- endset -%}\n[{{ suffix }}]", "[In addition, call functions.]")]
    [InlineData("{% for m in messages %}{% filter upper %}{{ m.role }}: {{ m.content }}{% endfilter %}\n{% endfor %}", "USER: HI")]
    [InlineData("{% filter indent(2, true) %}a\nb{% endfilter %}|", "  a\n  b|")]
    [InlineData("{% filter trim %}{% filter upper %} x {% endfilter %}y {% endfilter %}", "X y")]
    public void Filter_blocks_apply_their_filters_to_the_body_text(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Fact]
    public void A_set_inside_a_filter_block_lasts_for_the_block_as_in_jinja2()
    {
        // Jinja2 scopes the set to the block and writes A21 (followed here, as for a set in a for body); the
        // reference writes A22.
        Assert.Equal("A21", Render("{% set x = 1 %}{% filter upper %}{% set x = 2 %}a{{ x }}{% endfilter %}{{ x }}"));
    }

    // strip(chars), lstrip(chars), rstrip(chars) remove those characters, as in Python: the reference ignored the
    // argument and removed whitespace, so 'xxhixx'.strip('x') stayed 'xxhixx' and lstrip('\n') took spaces too.
    [Theory]
    [InlineData("{{ '\\n\\n  def f():\\n'.lstrip('\\n') }}", "  def f():\n")]
    [InlineData("{{ 'xxhixx'.strip('x') }}|{{ 'xxhixx'.lstrip('x') }}|{{ 'xxhixx'.rstrip('x') }}|{{ 'abcba'.strip('ab') }}", "hi|hixx|xxhi|c")]
    [InlineData("{{ 'ab\\n \\n'.rstrip('\\n') }}|{{ 'abc'.strip('') }}|{{ '  a  '.strip(none) }}|{{ ' \\ta\\n'.strip() }}", "ab\n |abc|a|a")]
    [InlineData("{{ '\U0001F642a\U0001F642'.strip('\U0001F642') }}|{{ '\U0001F642a'.lstrip('\uD83D') }}", "a|\U0001F642a")]
    public void Strip_with_characters_removes_those_characters(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Fact]
    public void Strip_refuses_an_argument_that_is_not_a_string()
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render("{{ 'a'.strip(1) }}"));
        Assert.Contains("line 1, column 7: strip() takes a string of characters to remove or none, got an integer", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Qwen3_keeps_the_indentation_of_an_answer_that_begins_with_code()
    {
        // Qwen3's template writes a past answer as content.split('</think>')[-1].lstrip('\n'); Jinja2 keeps the
        // four spaces, the reference dropped them.
        ChatTemplate qwen3 = ChatTemplate.FromDirectory(TestData.Path("tokenizers", "qwen3"))!;
        ChatTemplateMessage[] messages =
        [
            new("user", "Write f."),
            new("assistant", "<think>\nplan\n</think>\n\n    return 1\n"),
            new("user", "Thanks"),
        ];
        Assert.Equal("<|im_start|>user\nWrite f.<|im_end|>\n<|im_start|>assistant\n    return 1\n<|im_end|>\n<|im_start|>user\nThanks<|im_end|>\n<|im_start|>assistant\n",
            qwen3.Render(messages, addGenerationPrompt: true));
    }

    // A string times an integer repeats it, as in Jinja2 (a rule drawn with '-' * 20); the reference refused it.
    [Fact]
    public void A_string_times_an_integer_repeats_it()
    {
        Assert.Equal("---|abab||||==>", Render("{{ '-' * 3 }}|{{ 2 * 'ab' }}|{{ 'x' * 0 }}|{{ 'x' * -2 }}|{{ '' * 99999999999 }}|{{ ('=' * 2) ~ '>' }}"));
    }

    [Theory]
    [InlineData("{{ 'ab' * 2.0 }}", "line 1, column 9: operator '*' is not defined between a string and a float")]
    [InlineData("{{ 'ab' * 9007199254740991 }}", "line 1, column 9: '*' would make a string of 18014398509481982 characters, past 16777216")]
    public void A_repetition_of_no_integer_or_past_the_size_limit_is_refused(string template, string message)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    // Call blocks were refused, though the reference renders them as Jinja2 does: the macro's caller() renders the
    // block's body, whose names are those where the block is written (lexical), with the block's parameters.
    [Theory]
    [InlineData("{% macro m(x) %}[{{ caller() }}]{% endmacro %}{% set x = 'outer' %}{% call m('inner') %}{{ x }}{% endcall %}", "[outer]")]
    [InlineData("{% macro m(a) %}<{{ caller(a, 2) }}>{% endmacro %}{% call(p, q) m('z') %}{{ p }}{{ q }}{% endcall %}|{% macro n() %}{{ caller(1) }}{% endmacro %}{% call(p, q='d') n() %}{{ p }}{{ q }}{% endcall %}", "<z2>|1d")]
    [InlineData("{% macro m() %}{{ caller() }}{{ caller() }}{% endmacro %}{% set ns = namespace(i=0) %}{% call m() %}{% set ns.i = ns.i + 1 %}{{ ns.i }}{% endcall %}", "12")]
    [InlineData("{% macro row(m) -%}\n<{{ m.role }}>{{ caller() | trim }}</{{ m.role }}>\n{% endmacro %}{% for m in messages %}{% call row(m) %}\n  {{ m.content }}\n{% endcall %}{% endfor %}", "<user>hi</user>\n")]
    public void Call_blocks_render_the_body_where_the_macro_calls_caller(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    // A call block hands its body to a macro as caller; around a function that is no macro Jinja2 refuses it (the
    // function gets an unexpected keyword argument 'caller') and the reference writes [] for range(3): its own text
    // ([0, 1, 2]) would be neither's.
    [Theory]
    [InlineData("{% call range(3) %}x{% endcall %}", "line 1, column 9: 'call' needs a macro, got the function 'range'")]
    [InlineData("{% call namespace(a=1) %}x{% endcall %}", "line 1, column 9: 'call' needs a macro, got the function 'namespace'")]
    [InlineData("{% call 'ab'.upper() %}x{% endcall %}", "line 1, column 13: 'call' needs a macro, got the function 'upper'")]
    public void A_call_block_around_a_function_that_is_no_macro_is_refused(string template, string message)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }
}
