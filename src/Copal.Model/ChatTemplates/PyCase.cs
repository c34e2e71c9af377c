using System.Globalization;
using System.Text;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// Python's <c>str.islower()</c> and <c>str.isupper()</c>, which Jinja2's <c>lower</c> and <c>upper</c> tests call: no
/// character of the other case or titlecase, and at least one cased character. Python's lowercase and uppercase are
/// Unicode's Lowercase and Uppercase properties: the letter categories Ll and Lu and the Other_Lowercase and
/// Other_Uppercase characters (modifier letters, Roman numerals, circled letters), which .NET does not name; their
/// ranges are those of Unicode 14, the data of the Python that made the tests' expected texts. A character is tested by
/// its own case, not by its case mapping ('a' with U+03D2, an uppercase letter without a lowercase, is not lower).
/// </summary>
internal static class PyCase
{
    public static bool IsLower(string text) => Cased(text, upper: false);

    public static bool IsUpper(string text) => Cased(text, upper: true);

    private static bool Cased(string text, bool upper)
    {
        bool cased = false;
        foreach (Rune r in text.EnumerateRunes())
        {
            bool isUpper = IsUppercase(r), isLower = IsLowercase(r);
            if ((upper ? isLower : isUpper) || Rune.GetUnicodeCategory(r) == UnicodeCategory.TitlecaseLetter)
            {
                return false;
            }
            cased |= upper ? isUpper : isLower;
        }
        return cased;
    }

    private static bool IsLowercase(Rune r) => Rune.GetUnicodeCategory(r) == UnicodeCategory.LowercaseLetter || In(r.Value, s_otherLowercase);

    private static bool IsUppercase(Rune r) => Rune.GetUnicodeCategory(r) == UnicodeCategory.UppercaseLetter || In(r.Value, s_otherUppercase);

    private static bool In(int codePoint, (int First, int Last)[] ranges) => ranges.Any(x => codePoint >= x.First && codePoint <= x.Last);

    // Unicode 14's Other_Lowercase (PropList.txt).
    private static readonly (int, int)[] s_otherLowercase =
    [
        (0xAA, 0xAA), (0xBA, 0xBA), (0x2B0, 0x2B8), (0x2C0, 0x2C1), (0x2E0, 0x2E4), (0x345, 0x345), (0x37A, 0x37A),
        (0x1D2C, 0x1D6A), (0x1D78, 0x1D78), (0x1D9B, 0x1DBF), (0x2071, 0x2071), (0x207F, 0x207F), (0x2090, 0x209C),
        (0x2170, 0x217F), (0x24D0, 0x24E9), (0x2C7C, 0x2C7D), (0xA69C, 0xA69D), (0xA770, 0xA770), (0xA7F8, 0xA7F9),
        (0xAB5C, 0xAB5F), (0x10780, 0x10780), (0x10783, 0x10785), (0x10787, 0x107B0), (0x107B2, 0x107BA),
    ];

    // Unicode 14's Other_Uppercase (PropList.txt).
    private static readonly (int, int)[] s_otherUppercase =
    [
        (0x2160, 0x216F), (0x24B6, 0x24CF), (0x1F130, 0x1F149), (0x1F150, 0x1F169), (0x1F170, 0x1F189),
    ];
}
