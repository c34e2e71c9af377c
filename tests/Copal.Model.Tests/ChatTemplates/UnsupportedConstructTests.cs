using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>A construct outside the supported subset is refused with its name and its line and column, never rendered wrongly.</summary>
public class UnsupportedConstructTests
{
    private static readonly ChatTemplateMessage[] s_user = [new("user", "hi")];

    [Theory]
    [InlineData("{% include 'other.jinja' %}", "statement '{% include %}' is not supported", "line 1, column 4")]
    [InlineData("a\n  {% extends 'base' %}", "statement '{% extends %}' is not supported", "line 2, column 6")]
    [InlineData("{% call foo() %}x", "'call' is never closed with {% endcall %}", "line 1, column 4")]
    [InlineData("x{% endcall %}", "'{% endcall %}' without a matching opening tag", "line 1, column 5")]
    [InlineData("{% call foo %}x{% endcall %}", "'call' needs a macro call, e.g. {% call m() %}", "line 1, column 9")]
    [InlineData("{% filter upper %}x", "'filter' is never closed with {% endfilter %}", "line 1, column 4")]
    [InlineData("x{% endfilter %}", "'{% endfilter %}' without a matching opening tag", "line 1, column 5")]
    [InlineData("{% filter %}x{% endfilter %}", "expected the name of a filter after 'filter', found '%}'", "line 1, column 11")]
    [InlineData("{% filter upper | %}x{% endfilter %}", "expected the name of a filter after '|', found '%}'", "line 1, column 19")]
    [InlineData("{{ f(*args) }}", "argument unpacking '*' is not supported", "line 1, column 6")]
    [InlineData("{{ f(**kw) }}", "argument unpacking '**' is not supported", "line 1, column 6")]
    [InlineData("{{ x is divisibleby(3, 4) }}", "test 'divisibleby' takes one argument", "line 1, column 9")]
    [InlineData("{% macro m(varargs) %}{% endmacro %}", "macro parameter 'varargs' is not supported", "line 1, column 12")]
    [InlineData("{% for x in y %}", "'for' is never closed with {% endfor %}", "line 1, column 4")]
    [InlineData("{% endif %}", "'{% endif %}' without a matching opening tag", "line 1, column 4")]
    [InlineData("{{ 'a\\q' }}", "unsupported escape \\q in a string literal", "line 1, column 6")]
    [InlineData("{{ x @ y }}", "unexpected character '@'", "line 1, column 6")]
    [InlineData("a\n{{ x", "'{{' is never closed with }}", "line 2, column 1")]
    [InlineData("{% if x == 1", "'{%' is never closed with %}", "line 1, column 1")]
    [InlineData("{{ x }} {{ y ", "'{{' is never closed with }}", "line 1, column 9")]
    [InlineData("{{ 'abc }}", "unterminated string literal", "line 1, column 4")]
    public void Parse_time_refusal_names_the_construct_and_position(string template, string construct, string position)
    {
        var e = Assert.Throws<ChatTemplateException>(() => new ChatTemplate(template));
        Assert.True(e.Message.Contains(construct, StringComparison.Ordinal) && e.Message.Contains(position, StringComparison.Ordinal), e.Message);
    }

    [Theory]
    [InlineData("\n{{ messages[0] is sameas }}", "test 'sameas' needs an argument", "line 2, column 16")]
    [InlineData("{{ messages.append(1) }}", "'.append' is not a function (it is undefined)", "line 1, column 12")]
    [InlineData("{{ undefined_name + 'x' }}", "operator '+' on an undefined value ('undefined_name' is undefined)", "line 1, column 19")]
    [InlineData("{{ 1 / 0 }}", "division by zero", "line 1, column 6")]
    [InlineData("{{ 'a' - 1 }}", "operator '-' is not defined between a string and an integer", "line 1, column 8")]
    [InlineData("{% break %}", "'{% break %}' outside a for loop", "")]
    // Before, sort let the comparer's refusal escape as an InvalidOperationException ("Failed to compare two elements
    // in the array."), with no position: a 500 "internal error" in serve. Both references refuse these too.
    [InlineData("{{ [none, 1] | sort }}", "cannot sort a none against an integer", "line 1, column 16")]
    // Kinds that begin with a vowel take "an" (before: "got a undefined", "on a integer").
    [InlineData("{{ x is odd }}", "test 'odd' needs an integer, got an undefined", "line 1, column 6")]
    [InlineData("{{ {} | trim }}", "filter 'trim' is not supported on a mapping", "line 1, column 9")]
    [InlineData("{% for c in 1 %}{% endfor %}", "'for' cannot iterate over an integer", "line 1, column 4")]
    // Python (transformers' tojson, json.dumps): TypeError: Object of type Undefined is not JSON serializable. The
    // renderer, as the reference, wrote null.
    [InlineData("{{ undefined_name | tojson }}", "tojson of an undefined value ('undefined_name' is undefined)", "line 1, column 21")]
    [InlineData("{{ [1, {'a': {}.zz}] | tojson(indent=2) }}", "an undefined value cannot be written as JSON", "line 1, column 24")]
    [InlineData("{{ [{'a': 'x'}, {'a': 2}] | sort(attribute='a') }}", "cannot sort a string against an integer", "line 1, column 29")]
    public void Render_time_refusal_names_the_construct_and_position(string template, string construct, string position)
    {
        var t = new ChatTemplate(template);
        var e = Assert.ThrowsAny<ChatTemplateException>(() => t.Render(s_user, addGenerationPrompt: false));
        Assert.IsNotType<ChatTemplateRaisedException>(e);
        Assert.True(e.Message.Contains(construct, StringComparison.Ordinal) && e.Message.Contains(position, StringComparison.Ordinal), e.Message);
    }

    [Theory]
    // An undefined value that is no name nor attribute is not named; before, both said "(the callee is undefined)",
    // the words for a call.
    [InlineData("{{ messages[5] | tojson }}", "line 1, column 18: tojson of an undefined value")]
    [InlineData("{{ messages[5] + 'x' }}", "line 1, column 16: operator '+' on an undefined value")]
    public void An_undefined_subscript_is_not_called_a_callee(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => new ChatTemplate(template).Render(s_user, addGenerationPrompt: false));
        Assert.EndsWith(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Runaway_templates_are_refused_instead_of_exhausting_the_stack_or_memory()
    {
        var recursive = new ChatTemplate("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
        var e = Assert.Throws<ChatTemplateException>(() => recursive.Render(s_user, false));
        Assert.Contains("macro 'f' nests deeper than 200 calls", e.Message, StringComparison.Ordinal);

        e = Assert.Throws<ChatTemplateException>(() => new ChatTemplate("{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}"));
        Assert.Contains("nest deeper than 200 levels", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ChatTemplateException>(() => new ChatTemplate(string.Concat(Enumerable.Repeat("{% if true %}", 5000))));
        Assert.Contains("nest deeper than 200 levels", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ChatTemplateException>(() => new ChatTemplate("{{ " + string.Concat(Enumerable.Repeat("not ", 5000)) + "1 }}"));
        Assert.Contains("nest deeper than 200 levels", e.Message, StringComparison.Ordinal);

        var huge = new ChatTemplate("{% for i in range(100000000) %}{% endfor %}");
        e = Assert.Throws<ChatTemplateException>(() => huge.Render(s_user, false));
        Assert.Contains("range() of 100000000 numbers", e.Message, StringComparison.Ordinal);
        Assert.Equal("0,1,2,|5,3,|", new ChatTemplate("{% for i in range(3) %}{{ i }},{% endfor %}|{% for i in range(5, 1, -2) %}{{ i }},{% endfor %}|{% for i in range(2, 2) %}x{% endfor %}").Render(s_user, false));
    }

    /// <summary>
    /// A render has a step and a size budget. Before, doubling a list or a string forty times died of an out-of-memory
    /// "bug in copal" at 2 GB (in serve, a 500 "internal error"), nested ranges held a core until killed, and ten
    /// million numbers written out reached the tokenizer as 69 million characters.
    /// </summary>
    [Theory]
    // A value set in a loop's body lasts for its iteration, as in Jinja2: a namespace carries it across them.
    [InlineData("{% set ns = namespace(x=[1]) %}{% for i in range(40) %}{% set ns.x = ns.x + ns.x %}{% endfor %}", "line 1, column 75: a list grows past 16777216 items (a value doubled in a loop?)")]
    [InlineData("{% set ns = namespace(x='ab') %}{% for i in range(40) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}", "line 1, column 76: a string grows past 16777216 characters (a value doubled in a loop?)")]
    [InlineData("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", "rendering takes more than 10000000 steps (a loop that runs without end?)")]
    [InlineData("{% for i in range(100000) %}{% for j in range(100000) %}{{ 'abcdefghijklmnopqrstuvwxyz0123456789' }}{% endfor %}{% endfor %}", "the output grows past 16777216 characters (a loop that writes without end?)")]
    // One step can build a long string from short ones: refused before it is built.
    [InlineData("{% set ns = namespace(s='ab') %}{% for i in range(23) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ [ns.s, ns.s, ns.s] | join }}", "join would make a string of 50331648 characters, past 16777216")]
    [InlineData("{{ 'a\nb' | indent(2000000000) }}", "indent would make a string of 9223372036854775807 characters, past 16777216")]
    [InlineData("{{ [1] | tojson(indent=2000000000) }}", "tojson indent 2000000000 is past 16777216")]
    // batch's fill and slice's count are bounded as a list is, and each slice is a step.
    [InlineData("{{ [1] | batch(100000000, 0) | list }}", "batch would make a list of 100000000 items, past 16777216")]
    [InlineData("{{ [1] | slice(20000000) | list }}", "slice would make a list of 20000000 items, past 16777216")]
    [InlineData("{{ [1] | slice(16000000) | length }}", "rendering takes more than 10000000 steps")]
    [InlineData("{% set ns = namespace(s='ab') %}{% for i in range(22) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s.replace('a', 'aaaa') }}", "replace() grows a string past 16777216 characters")]
    [InlineData("{% set ns = namespace(s='ab') %}{% for i in range(23) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ [ns.s, ns.s, ns.s] }}", "the text of a list grows past 16777216 characters")]
    public void A_render_past_its_step_or_size_budget_is_refused_naming_where(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => new ChatTemplate(template).Render(s_user, false));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A list or mapping nested in a loop (one level an iteration) is refused when written, with the position. Before,
    /// writing it (text, JSON, join) or comparing it item by item recursed once a level and overflowed the stack, which
    /// kills the process: serve died with it.
    /// </summary>
    [Theory]
    [InlineData("{{ ns.x | tojson }}", "line 1, column 104")]
    [InlineData("{{ ns.x }}", "line 1, column 99")]
    [InlineData("{{ ns.x | string }}", "line 1, column 104")]
    [InlineData("{{ [ns.x] | join }}", "line 1, column 106")]
    [InlineData("{{ ns.x == [ns.x] }}", "line 1, column 102")]
    public void A_value_nested_past_the_limit_is_refused_when_written_instead_of_overflowing_the_stack(string write, string position)
    {
        string template = "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}" + write;
        var e = Assert.Throws<ChatTemplateException>(() => new ChatTemplate(template).Render(s_user, false));
        Assert.Contains(position + ": a list nested deeper than 1000 levels", e.Message, StringComparison.Ordinal);

        string mappings = "{% set ns = namespace(x={}) %}{% for i in range(100000) %}{% set ns.x = {'a': ns.x} %}{% endfor %}{{ ns.x | tojson(indent=1) }}";
        e = Assert.Throws<ChatTemplateException>(() => new ChatTemplate(mappings).Render(s_user, false));
        Assert.Contains("a mapping nested deeper than 1000 levels", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_value_nested_up_to_the_limit_is_written()
    {
        string Nested(int levels) => "{% set ns = namespace(x=[]) %}{% for i in range(" + (levels - 1) + ") %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}";
        Assert.Equal(new string('[', 1000) + new string(']', 1000), new ChatTemplate(Nested(1000)).Render(s_user, false));
        Assert.Throws<ChatTemplateException>(() => new ChatTemplate(Nested(1001)).Render(s_user, false));
    }

    /// <summary>
    /// Macro calls (at most 200) whose bodies nest expressions (at most 200 levels each) could together recurse past the
    /// stack: 199 calls through 10 levels overflowed a 1.5 MB stack (.NET's thread-pool threads on Linux, where serve
    /// renders), which kills the process. Such a render now either fits (how much does depends on how the JIT has
    /// compiled the interpreter so far) or is refused once the stack runs low, naming the position; never a crash.
    /// </summary>
    [Theory]
    [InlineData(10, 199)]
    [InlineData(40, 120)]
    [InlineData(190, 190)]
    public void Recursion_through_deep_expressions_renders_or_is_refused_but_never_overflows_the_stack(int nesting, int calls)
    {
        (string? text, Exception? error) = RenderOnSmallStack(RecursiveMacro(nesting, calls));
        if (error is null)
        {
            Assert.Equal("0" + new string('x', calls), text);
            return;
        }
        var e = Assert.IsType<ChatTemplateException>(error);
        Assert.Contains("line 1, column", e.Message, StringComparison.Ordinal);
        Assert.Contains("nests too deeply for the stack", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Recursion_as_deep_as_real_templates_renders_on_a_small_stack()
    {
        Assert.Equal("0" + new string('x', 30), RenderOnSmallStack(RecursiveMacro(20, 30)).Text);
    }

    private static string RecursiveMacro(int nesting, int calls)
    {
        string inner = "f(n - 1)";
        for (int i = 0; i < nesting; i++)
        {
            inner = "(" + inner + " if true else 0)";
        }
        return "{% macro f(n) %}{% if n > 0 %}{{ " + inner + " }}x{% else %}0{% endif %}{% endmacro %}{{ f(" + calls + ") }}";
    }

    private static (string? Text, Exception? Error) RenderOnSmallStack(string template)
    {
        var t = new ChatTemplate(template);
        (string?, Exception?) result = (null, null);
        var thread = new Thread(() =>
        {
            try
            {
                result = (t.Render(s_user, false), null);
            }
            catch (Exception e)
            {
                result = (null, e);
            }
        }, maxStackSize: 1536 * 1024);
        thread.Start();
        thread.Join();
        return result;
    }

    [Fact]
    public void Raise_exception_carries_the_templates_message_and_position()
    {
        var t = new ChatTemplate("{% if messages[0].role != 'system' %}\n  {{ raise_exception('need a system message') }}{% endif %}");
        var e = Assert.Throws<ChatTemplateRaisedException>(() => t.Render(s_user, false));
        Assert.Equal("need a system message", e.TemplateMessage);
        Assert.Contains("line 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unsupported_construct_in_a_config_names_the_file()
    {
        string dir = Directory.CreateTempSubdirectory("copal-ct-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), "{\"chat_template\": \"{% import 'x' as y %}\"}");
            var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.FromDirectory(dir));
            Assert.Contains("tokenizer_config.json", e.Message, StringComparison.Ordinal);
            Assert.Contains("statement '{% import %}' is not supported", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
