using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Jinja2's <c>unique(case_sensitive, attribute)</c> where it goes past booleans and mappings: case_sensitive is taken
/// by its truth (Python's <c>if not case_sensitive</c>), and an integer attribute indexes a string's characters, as
/// Jinja2's getitem does (so does sort with one); a part of an attribute's path is an index only where it is all
/// digits (JavaScript's parseInt read '1a' as 1). Every expected text is what Jinja2 3.1.6 renders from the same
/// template (tools/chat-templates/python-check.py's environment).
/// </summary>
public sealed class UniqueParityTests
{
    private static string Render(string template) =>
        new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null);

    [Theory]
    // Python: aA|aA|a|a|a
    [InlineData("{{ 'aA'|unique(1)|join }}|{{ 'aA'|unique('x')|join }}|{{ ['a','A']|unique(none)|join }}|{{ 'aA'|unique(0)|join }}|{{ 'aA'|unique('')|join }}", "aA|aA|a|a|a")]
    // Python: ab|ab,b|ab,ac,b|ba,ab
    [InlineData("{{ 'aba'|unique(attribute=0)|join }}|{{ ['ab','ac','b']|unique(attribute=0)|join(',') }}|{{ ['ab','ac','b']|unique(attribute='1')|join(',') }}|{{ ['ba','ab']|sort(attribute='1')|join(',') }}", "ab|ab,b|ab,ac,b|ba,ab")]
    // Python: 🙂x,a🙂|x🙂,ab (a character is a code point)
    [InlineData("{{ ['\U0001F642x','\U0001F642y','a\U0001F642']|unique(attribute=0)|join(',') }}|{{ ['x\U0001F642','y\U0001F642','ab']|unique(attribute=1)|join(',') }}", "\U0001F642x,a\U0001F642|x\U0001F642,ab")]
    // Python: 1|1|2|1|1 (a part that is not all digits is a name, which a list lacks: every key is undefined)
    [InlineData("{{ [[1,2],[1,3]]|unique(attribute='1a')|list|length }}|{{ [[1,2],[1,3]]|unique(attribute=' 1')|list|length }}|{{ [[1,2],[1,3]]|unique(attribute='01')|list|length }}|{{ [[1,2],[1,3]]|unique(attribute='-1')|list|length }}|{{ ['ab','cb']|unique(attribute='01')|list|length }}", "1|1|2|1|1")]
    public void Unique_is_jinja2s(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }
}
