using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// A for loop as Jinja2 runs it, where the renderer followed the reference: the text an iteration writes before
/// <c>{% break %}</c> or <c>{% continue %}</c> is kept, and <c>loop.depth</c> is 1 (<c>loop.depth0</c> 0) in a loop
/// that is not recursive, and a <c>set</c> in the loop's body lasts for its iteration only, as one in the body of a
/// block <c>set</c>, a <c>filter</c> block or a <c>call</c> block lasts for that body. Every expected text is what Jinja2 3.1.6 renders from the same template
/// (tools/chat-templates/python-check.py's environment).
/// </summary>
public sealed class LoopParityTests
{
    private static string Render(string template) =>
        new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null);

    [Fact]
    public void The_text_before_break_or_continue_is_kept()
    {
        // Python: <1><2<3>|<1><2|aE. An iteration left by continue still does not count for else, as in Jinja2.
        Assert.Equal("<1><2<3>|<1><2|aE", Render(
            "{% for x in [1, 2, 3] %}<{{ x }}{% if x == 2 %}{% continue %}{% endif %}>{% endfor %}"
            + "|{% for x in [1, 2, 3] %}<{{ x }}{% if x == 2 %}{% break %}{% endif %}>{% else %}E{% endfor %}"
            + "|{% for x in [1] %}a{% continue %}{% else %}E{% endfor %}"));
    }

    [Fact]
    public void Loop_depth_is_one_in_a_loop_that_is_not_recursive()
    {
        // Python: 101101 (an inner loop's depth is 1 too: only a recursive loop's calls go deeper).
        Assert.Equal("101101", Render("{% for x in range(2) %}{{ loop.depth }}{{ loop.depth0 }}{% for y in [1] %}{{ loop.depth }}{% endfor %}{% endfor %}"));
    }

    [Theory]
    // Python: [1][2]0 (each iteration starts from the value outside the loop; the renderer kept the last
    // iteration's, [1][3]0).
    [InlineData("{% set n = 0 %}{% for x in [1,2] %}{% set n = n + x %}[{{ n }}]{% endfor %}{{ n }}", "[1][2]0")]
    // Python: [][] (a name set in one iteration is not seen in the next, nor after the loop).
    [InlineData("{% for x in [1,2] %}{% if x == 2 %}[{{ y }}]{% endif %}{% set y = x %}{% endfor %}[{{ y }}]", "[][]")]
    // Python: [][] (nor outside an inner loop).
    [InlineData("{% for x in [1,2] %}{% for z in [1] %}{% set y = x %}{% endfor %}[{{ y }}]{% endfor %}", "[][]")]
    // Python: 1|2 (an if block is no scope; a namespace carries a value across iterations).
    [InlineData("{% if true %}{% set y = 1 %}{% endif %}{{ y }}|{% set ns = namespace(n=0) %}{% for x in [1, 1] %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}", "1|2")]
    public void A_set_in_the_body_lasts_for_its_iteration(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: 1|2 (the body of a block set is a scope of its own).
    [InlineData("{% set s = 1 %}{% set blk %}{% set s = 2 %}{{ s }}{% endset %}{{ s }}|{{ blk }}", "1|2")]
    // Python: 21 (it reads the outer value before its own set).
    [InlineData("{% set x = 1 %}{% set blk %}{% set x = x + 1 %}{{ x }}{% endset %}{{ blk }}{{ x }}", "21")]
    // Python: A| and [a]| (so is a filter block's body, and a call block's).
    [InlineData("{% filter upper %}{% set y = 'a' %}{{ y }}{% endfilter %}|{{ y }}", "A|")]
    [InlineData("{% macro w() %}[{{ caller() }}]{% endmacro %}{% call w() %}{% set y = 'a' %}{{ y }}{% endcall %}|{{ y }}", "[a]|")]
    public void A_set_in_a_blocks_body_lasts_for_the_body(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: aba|1n (cycle gives its arguments in turn, by the iteration's index).
    [InlineData("{% for x in [1,2,3] %}{{ loop.cycle('a', 'b') }}{% endfor %}|{% for x in 'ab' | list %}{{ loop.cycle(1, 'n', x) }}{% endfor %}", "aba|1n")]
    // Python: 123|TrueFalseFalse (changed is true when its arguments differ from the last call's, and at the first).
    [InlineData("{% for x in [1,1,2,3,3] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}|{% for x in [1,1,2] %}{{ loop.changed() }}{% endfor %}", "123|TrueFalseFalse")]
    // Python: TrueFalseFalseTrue|TrueFalseTrue (compared as Python's ==: 1, 1.0 and true are equal).
    [InlineData("{% for x in [1,1.0,true,'1'] %}{{ loop.changed(x) }}{% endfor %}|{% for x in [[1,2],[1,2],[2,1]] %}{{ loop.changed(x[0], x[1]) }}{% endfor %}", "TrueFalseFalseTrue|TrueFalseTrue")]
    // Python: TrueFalseTrueTrueFalseFalse (each loop remembers its own last value; an inner loop starts afresh).
    [InlineData("{% for x in [1,1] %}{% for y in [1,1] %}{{ loop.changed(y) }}{% endfor %}{{ loop.changed(x) }}{% endfor %}", "TrueFalseTrueTrueFalseFalse")]
    public void Loop_cycle_and_changed_are_jinja2s(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    // Python: TypeError: no items for cycling given
    [InlineData("{% for x in [1] %}{{ loop.cycle() }}{% endfor %}", "line 1, column 26: loop.cycle() needs at least one value")]
    // Python: TypeError: LoopContext.changed() got an unexpected keyword argument 'x'
    [InlineData("{% for x in [1,2] %}{{ loop.changed(x=1) }}{% endfor %}", "line 1, column 28: loop.changed() takes no keyword arguments")]
    [InlineData("{% for x in [1,2] %}{{ loop.cycle(x=1) }}{% endfor %}", "line 1, column 28: loop.cycle() takes no keyword arguments")]
    public void Loop_cycle_and_changed_refuse_what_python_refuses(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    // Python (when the template is read): TemplateAssertionError: Can't assign to special loop variable in for-loop
    // target. Jinja2 refuses a name `loop` assigned anywhere in a for statement (its target, a set in its body, at any
    // depth); the renderer wrote 55, 12 and nothing.
    [InlineData("{% for x in [1,2] %}{% set loop = 5 %}{{ loop }}{% endfor %}", "line 1, column 28: 'loop' cannot be assigned inside a for loop")]
    [InlineData("{% for loop in [1,2] %}{{ loop }}{% endfor %}", "line 1, column 8: 'loop' cannot be assigned inside a for loop")]
    [InlineData("{% for x in [1] %}{% if x %}{% set a, loop = 1, 2 %}{% endif %}{% endfor %}", "line 1, column 39: 'loop' cannot be assigned inside a for loop")]
    public void Assigning_loop_inside_a_for_loop_is_refused_when_the_template_is_read(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => new ChatTemplate(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    // Python: 5 and 3 (outside a for statement, `loop` is a name like any other).
    [InlineData("{% set loop = 5 %}{{ loop }}", "5")]
    [InlineData("{% macro m() %}{% set loop = 3 %}{{ loop }}{% endmacro %}{% for x in [1] %}{{ m() }}{% endfor %}", "3")]
    public void Loop_is_an_ordinary_name_outside_a_for_statement(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Fact]
    public void Loop_is_callable_and_no_mapping_as_jinja2s_loop_context()
    {
        // Python: TrueFalseTrueFalseFalse1a|TrueFalseTrueFalseFalse2b|. Jinja2's LoopContext defines __call__ (it raises
        // unless the loop is recursive) and __iter__, and is no Mapping; the renderer's loop was a mapping of its
        // attributes, so `loop is callable` was false and `loop is mapping` true.
        Assert.Equal("TrueFalseTrueFalseFalse1a|TrueFalseTrueFalseFalse2b|",
            Render("{% for x in [1,2] %}{{ loop is callable }}{{ loop is mapping }}{{ loop is iterable }}{{ loop is sequence }}{{ loop is lower }}{{ loop.index }}{{ loop.cycle('a','b') }}|{% endfor %}"));
    }

    [Theory]
    // Python writes <LoopContext 1/2> and [<LoopContext 2/2>]; writing the loop itself stays refused (no template needs
    // the object's text), but the refusal says so: it said "cannot write a function as text" (its cycle function).
    [InlineData("{% for x in [1,2] %}{{ loop }}{% endfor %}", "line 1, column 24: the for loop's 'loop' itself cannot be written as text (Python writes <LoopContext 1/2>")]
    [InlineData("{% for x in [1,2] %}{% if loop.last %}{{ [loop] }}{% endif %}{% endfor %}", "the for loop's 'loop' itself cannot be written as text (Python writes <LoopContext 2/2>")]
    public void Writing_the_loop_itself_is_refused_naming_it(string template, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
