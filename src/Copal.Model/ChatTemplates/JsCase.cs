using System.Globalization;
using System.Text;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// JavaScript's <c>toUpperCase</c> and <c>toLowerCase</c> (what the reference's upper, lower, capitalize, the lower and
/// upper tests and case-insensitive sorting use; Python's str.upper and str.lower agree): the full Unicode case
/// mapping. .NET's invariant casing is the simple mapping, one UTF-16 unit for one, and leaves "ı" and "ſ" alone; the
/// rest is the same, so only the differences are here: the unconditional multi-character mappings of Unicode's
/// SpecialCasing.txt, "ı"/"ſ" to "I"/"S", and the final sigma ("ΟΔΟΣ" lowers to "οδος").
/// </summary>
internal static class JsCase
{
    /// <summary>Where upper case differs from .NET's invariant mapping (all in the BMP).</summary>
    private static readonly Dictionary<char, string> s_upper = new()
    {
        ['\u00DF'] = "\u0053\u0053", ['\u0131'] = "\u0049", ['\u0149'] = "\u02BC\u004E", ['\u017F'] = "\u0053",
        ['\u01F0'] = "\u004A\u030C", ['\u0390'] = "\u0399\u0308\u0301", ['\u03B0'] = "\u03A5\u0308\u0301", ['\u0587'] = "\u0535\u0552",
        ['\u1E96'] = "\u0048\u0331", ['\u1E97'] = "\u0054\u0308", ['\u1E98'] = "\u0057\u030A", ['\u1E99'] = "\u0059\u030A",
        ['\u1E9A'] = "\u0041\u02BE", ['\u1F50'] = "\u03A5\u0313", ['\u1F52'] = "\u03A5\u0313\u0300", ['\u1F54'] = "\u03A5\u0313\u0301",
        ['\u1F56'] = "\u03A5\u0313\u0342", ['\u1F80'] = "\u1F08\u0399", ['\u1F81'] = "\u1F09\u0399", ['\u1F82'] = "\u1F0A\u0399",
        ['\u1F83'] = "\u1F0B\u0399", ['\u1F84'] = "\u1F0C\u0399", ['\u1F85'] = "\u1F0D\u0399", ['\u1F86'] = "\u1F0E\u0399",
        ['\u1F87'] = "\u1F0F\u0399", ['\u1F88'] = "\u1F08\u0399", ['\u1F89'] = "\u1F09\u0399", ['\u1F8A'] = "\u1F0A\u0399",
        ['\u1F8B'] = "\u1F0B\u0399", ['\u1F8C'] = "\u1F0C\u0399", ['\u1F8D'] = "\u1F0D\u0399", ['\u1F8E'] = "\u1F0E\u0399",
        ['\u1F8F'] = "\u1F0F\u0399", ['\u1F90'] = "\u1F28\u0399", ['\u1F91'] = "\u1F29\u0399", ['\u1F92'] = "\u1F2A\u0399",
        ['\u1F93'] = "\u1F2B\u0399", ['\u1F94'] = "\u1F2C\u0399", ['\u1F95'] = "\u1F2D\u0399", ['\u1F96'] = "\u1F2E\u0399",
        ['\u1F97'] = "\u1F2F\u0399", ['\u1F98'] = "\u1F28\u0399", ['\u1F99'] = "\u1F29\u0399", ['\u1F9A'] = "\u1F2A\u0399",
        ['\u1F9B'] = "\u1F2B\u0399", ['\u1F9C'] = "\u1F2C\u0399", ['\u1F9D'] = "\u1F2D\u0399", ['\u1F9E'] = "\u1F2E\u0399",
        ['\u1F9F'] = "\u1F2F\u0399", ['\u1FA0'] = "\u1F68\u0399", ['\u1FA1'] = "\u1F69\u0399", ['\u1FA2'] = "\u1F6A\u0399",
        ['\u1FA3'] = "\u1F6B\u0399", ['\u1FA4'] = "\u1F6C\u0399", ['\u1FA5'] = "\u1F6D\u0399", ['\u1FA6'] = "\u1F6E\u0399",
        ['\u1FA7'] = "\u1F6F\u0399", ['\u1FA8'] = "\u1F68\u0399", ['\u1FA9'] = "\u1F69\u0399", ['\u1FAA'] = "\u1F6A\u0399",
        ['\u1FAB'] = "\u1F6B\u0399", ['\u1FAC'] = "\u1F6C\u0399", ['\u1FAD'] = "\u1F6D\u0399", ['\u1FAE'] = "\u1F6E\u0399",
        ['\u1FAF'] = "\u1F6F\u0399", ['\u1FB2'] = "\u1FBA\u0399", ['\u1FB3'] = "\u0391\u0399", ['\u1FB4'] = "\u0386\u0399",
        ['\u1FB6'] = "\u0391\u0342", ['\u1FB7'] = "\u0391\u0342\u0399", ['\u1FBC'] = "\u0391\u0399", ['\u1FC2'] = "\u1FCA\u0399",
        ['\u1FC3'] = "\u0397\u0399", ['\u1FC4'] = "\u0389\u0399", ['\u1FC6'] = "\u0397\u0342", ['\u1FC7'] = "\u0397\u0342\u0399",
        ['\u1FCC'] = "\u0397\u0399", ['\u1FD2'] = "\u0399\u0308\u0300", ['\u1FD3'] = "\u0399\u0308\u0301", ['\u1FD6'] = "\u0399\u0342",
        ['\u1FD7'] = "\u0399\u0308\u0342", ['\u1FE2'] = "\u03A5\u0308\u0300", ['\u1FE3'] = "\u03A5\u0308\u0301", ['\u1FE4'] = "\u03A1\u0313",
        ['\u1FE6'] = "\u03A5\u0342", ['\u1FE7'] = "\u03A5\u0308\u0342", ['\u1FF2'] = "\u1FFA\u0399", ['\u1FF3'] = "\u03A9\u0399",
        ['\u1FF4'] = "\u038F\u0399", ['\u1FF6'] = "\u03A9\u0342", ['\u1FF7'] = "\u03A9\u0342\u0399", ['\u1FFC'] = "\u03A9\u0399",
        ['\uFB00'] = "\u0046\u0046", ['\uFB01'] = "\u0046\u0049", ['\uFB02'] = "\u0046\u004C", ['\uFB03'] = "\u0046\u0046\u0049",
        ['\uFB04'] = "\u0046\u0046\u004C", ['\uFB05'] = "\u0053\u0054", ['\uFB06'] = "\u0053\u0054", ['\uFB13'] = "\u0544\u0546",
        ['\uFB14'] = "\u0544\u0535", ['\uFB15'] = "\u0544\u053B", ['\uFB16'] = "\u054E\u0546", ['\uFB17'] = "\u0544\u053D",
    };

    private const char CapitalSigma = '\u03A3';

    public static string Upper(string s) => Map(s, upper: true);

    public static string Lower(string s) => Map(s, upper: false);

    private static string Map(string s, bool upper)
    {
        StringBuilder? sb = null;
        int runStart = 0;
        for (int i = 0; i < s.Length; i++)
        {
            string? special = upper
                ? s_upper.GetValueOrDefault(s[i])
                : s[i] switch
                {
                    '\u0130' => "i\u0307",
                    CapitalSigma => IsFinalSigma(s, i) ? "\u03C2" : "\u03C3",
                    _ => null,
                };
            if (special is null)
            {
                continue;
            }
            sb ??= new StringBuilder(s.Length + 8);
            string run = s[runStart..i];
            sb.Append(upper ? run.ToUpperInvariant() : run.ToLowerInvariant()).Append(special);
            runStart = i + 1;
        }
        if (sb is null)
        {
            return upper ? s.ToUpperInvariant() : s.ToLowerInvariant();
        }
        string rest = s[runStart..];
        return sb.Append(upper ? rest.ToUpperInvariant() : rest.ToLowerInvariant()).ToString();
    }

    /// <summary>Unicode's Final_Sigma: a cased letter before (case-ignorable characters between) and none after.</summary>
    private static bool IsFinalSigma(string s, int at)
    {
        int i = at;
        bool casedBefore = false;
        while (i > 0 && Rune.DecodeLastFromUtf16(s.AsSpan(0, i), out Rune r, out int n) == System.Buffers.OperationStatus.Done)
        {
            i -= n;
            if (!IsCaseIgnorable(r))
            {
                casedBefore = IsCased(r);
                break;
            }
        }
        if (!casedBefore)
        {
            return false;
        }
        i = at + 1;
        while (i < s.Length && Rune.DecodeFromUtf16(s.AsSpan(i), out Rune r, out int n) == System.Buffers.OperationStatus.Done)
        {
            i += n;
            if (!IsCaseIgnorable(r))
            {
                return !IsCased(r);
            }
        }
        return true;
    }

    private static bool IsCased(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.UppercaseLetter
        or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
        // Other_Lowercase and Other_Uppercase outside those categories and not case-ignorable: ª º, the Roman
        // numerals, the circled and squared letters.
        || r.Value is 0xAA or 0xBA or (>= 0x2160 and <= 0x217F) or (>= 0x24B6 and <= 0x24E9)
            or (>= 0x1F130 and <= 0x1F149) or (>= 0x1F150 and <= 0x1F169) or (>= 0x1F170 and <= 0x1F189);

    private static bool IsCaseIgnorable(Rune r) => Rune.GetUnicodeCategory(r) switch
    {
        UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format
            or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol => true,
        // Word_Break MidLetter, MidNumLet and Single_Quote.
        _ => r.Value is 0x27 or 0x2E or 0x3A or 0xB7 or 0x387 or 0x55F or 0x5F4 or 0x2018 or 0x2019 or 0x2024
            or 0x2027 or 0xFE13 or 0xFE52 or 0xFE55 or 0xFF07 or 0xFF0E or 0xFF1A,
    };
}
