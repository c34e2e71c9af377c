using System.Globalization;
using System.Text;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// Jinja2's <c>truncate</c> and <c>wordcount</c> filters, which the reference lacks. <c>wordcount</c> counts Python's
/// <c>\w+</c> runs in the value's text (<c>str()</c>; undefined is empty): letters, numbers (Unicode's L and N
/// categories) and <c>_</c>, not marks. <c>truncate</c>: <c>truncate(length=255, killwords=False, end='...',
/// leeway=None)</c> shortens a string longer than length + leeway (5 when none, Jinja2's default policy) to length
/// code points, end included, at the last space unless killwords. It takes a string or undefined (kept as it is);
/// Python raises for other kinds but a short list, which it returns as is, and that is refused here.
/// </summary>
internal sealed partial class Interpreter
{
    private Value Truncate(Value operand, Value length, Value killWords, Value end, Value leeway, FilterNode node)
    {
        if (length is not IntegerValue { Value: var max } || end is not StringValue { Value: var ending } || leeway is not (IntegerValue or NullValue))
        {
            throw Error(node, "truncate takes length (an integer), killwords, end (a string) and leeway (an integer or none)");
        }
        int endLength = Builtins.CodePoints(ending).Count;
        long slack = leeway is IntegerValue l ? l.Value : 5;
        if (max < endLength)
        {
            throw Error(node, FormattableString.Invariant($"truncate's length {max} is shorter than its end '{ending}'"));
        }
        if (slack < 0)
        {
            throw Error(node, FormattableString.Invariant($"truncate's leeway must be 0 or more, got {slack}"));
        }
        if (operand is UndefinedValue)
        {
            return operand;
        }
        if (operand is not StringValue text)
        {
            throw Error(node, $"filter 'truncate{(node.Arguments is null ? "" : "(...)")}' is not supported on {operand.AKind}");
        }
        List<string> characters = Builtins.CodePoints(text.Value);
        if (characters.Count <= max + slack)
        {
            return text;
        }
        string kept = string.Concat(characters.Take((int)(max - endLength)));
        if (!killWords.IsTrue)
        {
            // Python's rsplit(" ", 1)[0]: up to the last space.
            int space = kept.LastIndexOf(' ');
            kept = space < 0 ? kept : kept[..space];
        }
        return new StringValue(kept + ending);
    }

    private static int WordCount(string text)
    {
        int words = 0;
        bool inWord = false;
        foreach (Rune r in text.EnumerateRunes())
        {
            bool word = r.Value == '_' || Rune.IsLetter(r) || Rune.GetUnicodeCategory(r) is UnicodeCategory.DecimalDigitNumber
                or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;
            words += word && !inWord ? 1 : 0;
            inWord = word;
        }
        return words;
    }
}
