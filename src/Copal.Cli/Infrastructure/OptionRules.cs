using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;
using Copal.Tensors.IO;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// How option values are read and checked, the same way for every command. A value that does not convert or is out of
/// range is a usage error (exit 2) worded as <c>--seed: expected a non-negative integer, got -1</c>: the option as the
/// user typed it, what is allowed, what was given. The rules run while parsing, before any work starts.
/// </summary>
internal static class OptionRules
{
    /// <summary>Installs the plain-worded parser on every number and enum option of the tree that has no rule of its own.</summary>
    public static void Apply(Command command)
    {
        foreach (Option option in command.Options)
        {
            switch (option)
            {
                case Option<int> o: o.CustomParser ??= Parser(o, null, null, null); break;
                case Option<int?> o: o.CustomParser ??= NullableParser(o, null, null, null); break;
                case Option<long> o: o.CustomParser ??= Parser(o, null, null, null); break;
                case Option<ulong> o: o.CustomParser ??= Parser(o, null, null, null); break;
                case Option<float> o: o.CustomParser ??= Parser(o, null, null, null); break;
                case Option<double> o: o.CustomParser ??= Parser(o, null, null, null); break;
                case Option<double?> o: o.CustomParser ??= NullableParser(o, null, null, null); break;
                default:
                    // Text keeps its value as given (commands check it, or give it a rule with Accept/OneOf); an enum
                    // gets its rule where it is made (Names), since its type is not known here.
                    break;
            }
        }
        foreach (Command sub in command.Subcommands)
        {
            Apply(sub);
        }
    }

    /// <summary>
    /// A number that must satisfy <paramref name="ok"/>, described by <paramref name="expected"/> when not (also for a
    /// whole number beyond the type, so <paramref name="expected"/> should give the range).
    /// </summary>
    public static Option<T> Accept<T>(this Option<T> option, Func<T, bool> ok, string expected) where T : struct, INumber<T>, IMinMaxValue<T>
    {
        option.CustomParser = Parser(option, ok, expected, null);
        return option;
    }

    /// <summary>An optional number that, when given, must satisfy <paramref name="ok"/>.</summary>
    public static Option<T?> Accept<T>(this Option<T?> option, Func<T, bool> ok, string expected) where T : struct, INumber<T>, IMinMaxValue<T>
    {
        option.CustomParser = NullableParser(option, ok, expected, null);
        return option;
    }

    /// <summary>An integer ≥ <paramref name="min"/> (a whole number beyond int is told the range up to int's largest).</summary>
    public static Option<int> AtLeast(this Option<int> option, int min)
    {
        option.CustomParser = Parser(option, v => v >= min, $"an integer ≥ {min}", min);
        return option;
    }

    /// <summary>An optional integer ≥ <paramref name="min"/>.</summary>
    public static Option<int?> AtLeast(this Option<int?> option, int min)
    {
        option.CustomParser = NullableParser(option, v => v >= min, $"an integer ≥ {min}", min);
        return option;
    }

    /// <summary>
    /// Text checked by <paramref name="problem"/>, which returns null when the value is fine and otherwise what is
    /// expected instead. <typeparamref name="T"/> is string or string?.
    /// </summary>
    public static Option<T> Accept<T>(this Option<T> option, Func<string, string?> problem) where T : class?
    {
        option.CustomParser = TextParser(option, raw => (problem(raw), raw));
        return option;
    }

    /// <summary>What a path option expects, when given an empty value.</summary>
    public const string PathExpected = "a path";

    /// <summary>
    /// A file or folder the command reads, or a file it writes: an empty value (an unset shell variable in quotes)
    /// names none, so it is refused while parsing, naming the option, rather than looked for or written. A ".." after
    /// a symbolic link means what it means to the shell (<see cref="RealPath.AsTheKernelReadsIt"/>).
    /// </summary>
    public static Option<T> Path<T>(this Option<T> option) where T : class?
    {
        option.CustomParser = TextParser(option, raw => (raw.Length == 0 ? PathExpected : null, RealPath.AsTheKernelReadsIt(raw)));
        return option;
    }

    /// <summary>
    /// A folder a command reads (a model, the base model of --compare, a tokenizer): as <see cref="Path"/>, and '-'
    /// (standard input elsewhere, which cannot be a folder) is refused while the command line is read, as every other
    /// bad value is, so the usage error comes before any file is looked at (exit 2, not a missing file's 1).
    /// </summary>
    public static Option<T> InputFolder<T>(this Option<T> option, string what) where T : class?
    {
        option.Path();
        option.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && r.Tokens[^1].Value == Inputs.Stdio)
            {
                r.AddError(StdinRefused(Typed(r, option), what));
            }
        });
        return option;
    }

    /// <summary>The refusal of '-' where a folder or file is read: "-m: standard input ('-') is not accepted here; give a model folder".</summary>
    public static string StdinRefused(string typed, string instead) => $"{typed}: standard input ('-') is not accepted here; give {instead}";

    /// <summary>
    /// A folder a command writes (--out of prune, compact, densify, synth and continual; --state; --temp): an empty or
    /// blank value names no folder (none of that name is made); '-' names standard output elsewhere, which cannot take
    /// a folder, so it is refused rather than made a folder named '-'.
    /// </summary>
    public static Option<T> Folder<T>(this Option<T> option) where T : class?
    {
        option.CustomParser = TextParser(option, raw =>
            (string.IsNullOrWhiteSpace(raw) ? PathExpected : raw == "-" ? "a folder (standard output ('-') cannot take one)" : null, RealPath.AsTheKernelReadsIt(raw)));
        return option;
    }

    /// <summary>One of <paramref name="values"/>, case-insensitive; the value comes back as listed.</summary>
    public static Option<T> OneOf<T>(this Option<T> option, params string[] values) where T : class?
    {
        option.CustomParser = TextParser(option, raw =>
            values.FirstOrDefault(v => string.Equals(v, raw.Trim(), StringComparison.OrdinalIgnoreCase)) is string match
                ? (null, match)
                : (Alternatives(values), raw));
        return option;
    }

    /// <summary>
    /// An enum option read by its names (case-insensitive, '-' and '_' ignored), never by number. Not given, it is the
    /// enum's zero value, which the help names as the docs spell it ("[default: raw]"): a default value factory would
    /// be shown by the enum's C# name ("Raw"), which the parser accepts but the docs never write.
    /// </summary>
    public static Option<T> Names<T>(this Option<T> option) where T : struct, Enum
    {
        if (option.DefaultValueFactory is not null)
        {
            throw new InvalidOperationException($"{option.Name}: an option read by names defaults to the enum's zero value; remove its DefaultValueFactory");
        }
        string[] names = Enum.GetNames<T>();
        // Shown and named as the docs write them (joined-lines); any case, with or without the dashes, is accepted.
        string[] spelled = [.. names.Select(Kebab)];
        option.HelpName = string.Join('|', spelled);
        option.Description = $"{option.Description} [default: {Kebab(Enum.GetName(default(T))!)}]";
        option.CustomParser = r =>
        {
            string raw = r.Tokens[^1].Value;
            string key = raw.Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal).Trim();
            string? name = names.FirstOrDefault(n => string.Equals(n, key, StringComparison.OrdinalIgnoreCase));
            if (name is null)
            {
                Fail(r, Alternatives(spelled), raw);
                return default;
            }
            return Enum.Parse<T>(name);
        };
        return option;
    }

    /// <summary>
    /// A check made by the library's own parser of the option (one source of truth for what is valid): null when it
    /// accepts the value, else what its <see cref="Copal.Prune.PruningOptionException"/> says is expected.
    /// </summary>
    public static Func<string, string?> ByLibrary(Action<string> parse) => value =>
    {
        try
        {
            parse(value);
            return null;
        }
        catch (Copal.Prune.PruningOptionException e)
        {
            return e.Expected;
        }
    };

    /// <summary>"JoinedLines" as "joined-lines".</summary>
    private static string Kebab(string pascal) =>
        string.Concat(pascal.Select((c, i) => char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    /// <summary>"a, b or c".</summary>
    public static string Alternatives(IReadOnlyList<string> values) =>
        values.Count == 1 ? values[0] : $"{string.Join(", ", values.Take(values.Count - 1))} or {values[^1]}";

    /// <summary>The option as the user typed it (<c>-n</c> or <c>--max-tokens</c>), else its name.</summary>
    public static string Typed(OptionResult? result, Option option) => result?.IdentifierToken?.Value ?? option.Name;

    /// <summary>The option as typed on this command line, for messages of checks made after parsing.</summary>
    public static string Typed(this ParseResult parsed, Option option) => Typed(parsed.GetResult(option), option);

    /// <summary>A value as a message shows it: numbers bare, text in quotes, nothing said in words.</summary>
    public static string Shown(string raw) =>
        raw.Length == 0 ? "an empty string"
        : double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out _) || NonFiniteSpelling(raw) ? raw : $"'{raw}'";

    /// <summary>
    /// Whether <paramref name="raw"/> spells an infinity or NaN the way people write one: inf, Infinity, ∞ or nan in
    /// any case, with or without a sign. .NET reads only "Infinity", "∞" and "NaN", so "inf" was told "expected a
    /// number" where "Infinity" was told the finite range: every spelling is now told the range.
    /// </summary>
    internal static bool NonFiniteSpelling(string raw)
    {
        ReadOnlySpan<char> s = raw.AsSpan().Trim();
        if (s.Length > 1 && s[0] is '+' or '-')
        {
            s = s[1..];
        }
        return s.Equals("inf", StringComparison.OrdinalIgnoreCase) || s.Equals("infinity", StringComparison.OrdinalIgnoreCase)
            || s.Equals("nan", StringComparison.OrdinalIgnoreCase) || s.SequenceEqual("∞");
    }

    // The range of an integer option, for a value beyond its type: from the option's least value (or the type's) to
    // the type's largest; an option's own wording (e.g. "a port in 0..65535") already gives it.
    private static string Range<T>(string kind, string? expected, T? min, bool unsigned) where T : struct, INumber<T>, IMinMaxValue<T> =>
        min is T least ? string.Create(CultureInfo.InvariantCulture, $"an integer from {least} to {T.MaxValue}")
        : expected is not null ? expected
        : unsigned ? string.Create(CultureInfo.InvariantCulture, $"{kind} up to {T.MaxValue}")
        : string.Create(CultureInfo.InvariantCulture, $"{kind} from {T.MinValue} to {T.MaxValue}");

    private static void Fail(ArgumentResult r, string expected, string raw, string note = "")
    {
        string typed = r.Parent is OptionResult o ? Typed(o, o.Option) : r.Argument.Name;
        r.AddError($"{typed}: expected {expected}, got {Shown(raw)}{note}");
    }

    private static Func<ArgumentResult, T?> TextParser<T>(Option<T> option, Func<string, (string? Expected, string Value)> check) where T : class?
    {
        Func<ArgumentResult, T>? fallback = option.DefaultValueFactory;
        return r =>
        {
            if (r.Tokens.Count == 0)
            {
                return fallback?.Invoke(r);
            }
            string raw = r.Tokens[^1].Value;
            (string? expected, string value) = check(raw);
            if (expected is not null)
            {
                Fail(r, expected, raw);
            }
            return (T)(object)value;
        };
    }

    private static Func<ArgumentResult, T> Parser<T>(Option<T> option, Func<T, bool>? ok, string? expected, T? min) where T : struct, INumber<T>, IMinMaxValue<T>
    {
        Func<ArgumentResult, T>? fallback = option.DefaultValueFactory;
        return r => r.Tokens.Count == 0 ? (fallback is null ? default : fallback(r)) : Convert(r, ok, expected, min) ?? default;
    }

    private static Func<ArgumentResult, T?> NullableParser<T>(Option<T?> option, Func<T, bool>? ok, string? expected, T? min) where T : struct, INumber<T>, IMinMaxValue<T>
    {
        Func<ArgumentResult, T?>? fallback = option.DefaultValueFactory;
        return r => r.Tokens.Count == 0 ? fallback?.Invoke(r) : Convert(r, ok, expected, min);
    }

    private static T? Convert<T>(ArgumentResult r, Func<T, bool>? ok, string? expected, T? min) where T : struct, INumber<T>, IMinMaxValue<T>
    {
        string raw = r.Tokens[^1].Value;
        bool integer = typeof(T) != typeof(float) && typeof(T) != typeof(double);
        bool unsigned = T.IsZero(T.MinValue);
        string kind = !integer ? "a number" : unsigned ? "a non-negative integer" : "an integer";
        if (NonFiniteSpelling(raw))
        {
            // A number, but none of the finite ones any option takes: the option's range, however it is spelled.
            Fail(r, expected ?? (integer ? kind : "a finite number"), raw);
            return null;
        }
        if (!T.TryParse(raw, integer ? NumberStyles.Integer : NumberStyles.Float, CultureInfo.InvariantCulture, out T value))
        {
            // A whole number the type cannot hold is out of range, not malformed: say which range.
            bool outOfRange = integer && BigInteger.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out BigInteger whole)
                && !(unsigned && whole.Sign < 0 && min is null);
            Fail(r, outOfRange ? Range(kind, expected, min, unsigned) : kind, raw);
            return null;
        }
        if (!integer && !double.IsFinite(double.CreateTruncating(value)))
        {
            Fail(r, expected ?? "a finite number", raw);
            return null;
        }
        if (ok is not null && !ok(value))
        {
            // The note only where it is why: a negative value is refused for its sign, whatever it rounds to.
            Fail(r, expected ?? kind, raw, RoundsToZero(raw, value) && !Negative(raw) ? $", which {Precision<T>()} precision holds as 0" : "");
            return null;
        }
        // A negative number above the type's largest negative one (--temperature -1e-50, --dense-target -1e-400) reads
        // as -0, which a "≥ 0" rule takes for 0: the rule is asked about a negative number instead, so it refuses the
        // sign as typed.
        if (ok is not null && RoundsToZero(raw, value) && Negative(raw) && !ok(T.CreateTruncating(-float.Epsilon)))
        {
            Fail(r, expected ?? kind, raw);
            return null;
        }
        return value;
    }

    // A number below the type's smallest (1e-50 for float's --top-p, 1e-400 for double's --decay) reads as 0; the
    // refusal then says why, since the value as typed is inside the range the message names. Whether the number typed
    // is 0 is read from its digits: parsing it again as a double would round 1e-400 to 0 as well.
    private static bool RoundsToZero<T>(string raw, T value) where T : INumber<T> =>
        (typeof(T) == typeof(float) || typeof(T) == typeof(double)) && T.IsZero(value) && NonZeroDigits(raw);

    // The significand (before any exponent) of a number that parsed has a digit other than 0.
    private static bool NonZeroDigits(string raw)
    {
        int exponent = raw.IndexOfAny(['e', 'E']);
        return raw.AsSpan(0, exponent < 0 ? raw.Length : exponent).IndexOfAnyInRange('1', '9') >= 0;
    }

    private static bool Negative(string raw) => raw.TrimStart().StartsWith('-');

    private static string Precision<T>() => typeof(T) == typeof(float) ? "single" : "double";
}
