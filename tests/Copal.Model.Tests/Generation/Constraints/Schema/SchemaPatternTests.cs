using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Copal.Model.Generation.Constraints.Schema;
using Copal.Model.Generation.Constraints.Schema.Patterns;
using Json.Schema;

namespace Copal.Model.Tests.Generation.Constraints.Schema;

/// <summary>
/// Strings held to JSON Schema's <c>pattern</c>. The references are .NET's regular expressions in both their readings
/// (ECMAScript and .NET's own) and JsonSchema.Net: every string a reply writes matches under each, and on the
/// characters the engines agree on (ASCII without line feeds) copal takes exactly the strings ECMAScript's reading
/// matches. Walks over every byte (escapes, \u, UTF-8) never strand. What copal does not take is refused in one line.
/// </summary>
public class SchemaPatternTests
{
    // What real generators write (.NET's TimeSpan and Version, Pydantic's Decimal and constr), and the regex features.
    public static readonly TheoryData<string> Patterns = new(
        @"^-?(\d+\.)?\d{2}:\d{2}:\d{2}(\.\d{1,7})?$",
        @"^\d+(\.\d+){1,3}$",
        @"^(?!^[-+.]*$)[+-]?0*\d*\.?\d*$",
        @"^[A-Z]{3}-\d+$",
        @"^\S+@\S+$",
        "ab",
        "a|b$",
        "^(a|ab)(c|bcd)(d*)$",
        "[^a-c]x?",
        "^.{2,3}$",
        "(?:x|y)+z",
        @"^(?=.*\d)(?!.*aa).{3,}$",
        @"^[\w.-]+$",
        @"\$\^\.",
        "^a*?b+?$",
        @"^(?<year>\d{4})-\d\d$",
        @"^[\x41-\u0043]+$",
        "^$",
        @"^\s*$",
        @"^[^\d\s]+$",
        @"^[a\-z]\/$",
        @"^[\s\S]{0,3}$",
        @"^[\w\W]+$",
        @"^[^\d\D]?x$",
        @"^(?!\s)(?!.*\d$)[\s\S]{1,4}$",
        @"^(?![\w.])[^\D]*\n?");

    private const string Alphabet = "abcdxzA01-.:@ +$/^";

    private static string Schema(string pattern, string extra = "") =>
        $$$"""{"type":"object","properties":{"s":{"type":"string","pattern":{{{JsonSerializer.Serialize(pattern)}}}{{{extra}}}}},"required":["s"],"additionalProperties":false}""";

    private static bool Reference(string pattern, string value) =>
        Regex.IsMatch(value, pattern, RegexOptions.ECMAScript) && Regex.IsMatch(value, pattern);

    private static bool Taken(CompiledSchema schema, string value)
    {
        string text = "{\"s\":" + JsonSerializer.Serialize(value) + "}";
        return SchemaPrefixTests.Refusal(schema, text, out bool complete) < 0 && complete;
    }

    [Theory]
    [MemberData(nameof(Patterns))]
    public void Strings_of_the_agreed_characters_are_taken_exactly_as_ecmascript_matches(string pattern)
    {
        CompiledSchema schema = SchemaPrefixTests.Compile(Schema(pattern));
        var rng = new Random(pattern.Length);
        var candidates = new HashSet<string>(Short(3));
        // Near misses: strings the automaton takes, each changed by one character.
        foreach (string taken in Walks(schema, rng, 60, [.. Alphabet.Select(c => (byte)c), (byte)'"']))
        {
            candidates.Add(taken);
            for (int i = 0; i < 6; i++)
            {
                candidates.Add(Mutate(taken, rng));
            }
        }
        int matched = 0;
        foreach (string value in candidates)
        {
            bool expected = Regex.IsMatch(value, pattern, RegexOptions.ECMAScript);
            Assert.True(expected == Taken(schema, value), $"\"{value}\": ECMAScript says {expected}");
            Assert.True(!expected || Regex.IsMatch(value, pattern), $"\"{value}\" is matched by ECMAScript but not .NET's reading");
            matched += expected ? 1 : 0;
        }
        Assert.True(matched > 0);
    }

    [Theory]
    [MemberData(nameof(Patterns))]
    public void Walks_over_every_byte_write_strings_every_reading_matches(string pattern)
    {
        string text = Schema(pattern);
        CompiledSchema schema = SchemaPrefixTests.Compile(text);
        JsonSchema reference = JsonSchema.FromText(text);
        foreach (string value in Walks(schema, new Random(pattern.Length), 80, [.. Enumerable.Range(0, 256).Select(b => (byte)b)]))
        {
            Assert.True(Reference(pattern, value), $"{JsonSerializer.Serialize(value)} does not match {pattern}");
            using JsonDocument doc = JsonDocument.Parse("{\"s\":" + JsonSerializer.Serialize(value) + "}");
            Assert.True(reference.Evaluate(doc.RootElement).IsValid);
        }
    }

    [Theory]
    [InlineData("^[a-z]+$", "{\"s\":\"\\u0061b\\u0063\"}", true)]
    [InlineData("^[a-z]+$", "{\"s\":\"\\u0041\"}", false)]
    [InlineData("^\"\\\\/$", "{\"s\":\"\\\"\\\\\\/\"}", true)]
    [InlineData("^\\n\\t$", "{\"s\":\"\\n\\t\"}", true)]
    [InlineData("^\\n\\t$", "{\"s\":\"\\u000a\\u0009\"}", true)]
    [InlineData("^é€$", "{\"s\":\"é€\"}", true)]
    [InlineData("^é€$", "{\"s\":\"\\u00e9\\u20AC\"}", true)]
    [InlineData("^.$", "{\"s\":\"😀\"}", false)] // beyond U+FFFF: one character to Python, two to .NET
    [InlineData("^.$", "{\"s\":\"\\ud83d\\ude00\"}", false)]
    [InlineData("^\\d$", "{\"s\":\"٣\"}", false)] // a digit to .NET, not to ECMAScript
    [InlineData("^\\D$", "{\"s\":\"٣\"}", false)] // not a digit to ECMAScript, one to .NET
    [InlineData("^\\W$", "{\"s\":\"é\"}", false)]
    [InlineData("^\\S$", "{\"s\":\"\\u0085\"}", false)] // whitespace to .NET, not to ECMAScript
    [InlineData("^[^x]$", "{\"s\":\"\\u0085\"}", true)]
    [InlineData("^.$", "{\"s\":\"\\r\"}", false)] // a line terminator to ECMAScript, not to .NET
    // A class escape beside its complement is every character to every engine (checked with node, .NET and Python).
    [InlineData("^[\\s\\S]$", "{\"s\":\"\\u00a0\"}", true)]
    [InlineData("^[\\S\\s]$", "{\"s\":\"\\u2028\"}", true)]
    [InlineData("^[\\w\\W]$", "{\"s\":\"é\"}", true)]
    [InlineData("^[x\\d\\D]$", "{\"s\":\"٣\"}", true)]
    [InlineData("^[^\\s\\S]?$", "{\"s\":\"\\u00a0\"}", false)]
    // A negative lookahead fails where any engine's reading of its body matches (verdicts checked with node and Python).
    [InlineData("^(?!\\s)", "{\"s\":\"\\u00a0\"}", false)] // whitespace to ECMAScript, not to .NET's ECMAScript reading
    [InlineData("^(?!.)", "{\"s\":\"\\r\"}", false)] // no match for .NET and Python, whose dot takes \r
    [InlineData("^(?!\\d)", "{\"s\":\"٣\"}", false)]
    [InlineData("^(?!\\w)", "{\"s\":\"é\"}", false)]
    [InlineData("^(?!a$)", "{\"s\":\"a\\n\"}", false)] // .NET's and Python's $ holds before a final \n
    [InlineData("^(?!a$)", "{\"s\":\"a\\nb\"}", true)]
    [InlineData("^(?!\\s)", "{\"s\":\"a\"}", true)]
    public void Escapes_and_characters_are_read_as_every_engine_reads_them(string pattern, string text, bool taken)
    {
        CompiledSchema schema = SchemaPrefixTests.Compile(Schema(pattern));
        Assert.Equal(taken, SchemaPrefixTests.Refusal(schema, text, out bool complete) < 0 && complete);
    }

    [Theory]
    [InlineData(@"^\S+@\S+$")]
    [InlineData(@"^-?(\d+\.)?\d{2}:\d{2}:\d{2}(\.\d{1,7})?$")]
    [InlineData(@"^(?!^[-+.]*$)[+-]?0*\d*\.?\d*$")]
    [InlineData("^[^a]{0,2}$")]
    [InlineData(@"^[\x7F\x80\u07FF\u0800\uD7FF\uE000\uFFFF]{1,2}$")] // the edges of UTF-8's lengths and of the surrogates
    [InlineData(@"^[\x00-\x1F""\\]{1,2}$")] // characters only an escape writes
    [InlineData(@"^(?!\s)[\s\S]$")]
    public void No_string_a_pattern_takes_is_a_dead_end(string pattern)
    {
        // Every state reached, breadth-first over every byte: each takes some byte (the closing quote where the string
        // is whole). Exhaustive: UTF-8 and escapes included, the states are the pattern's progress.
        AssertNoDeadEnd(SchemaPrefixTests.Compile(Schema(pattern, ",\"maxLength\":12")), 0, 255);
    }

    // Every state a string of property "s" reaches over the bytes from .. to, breadth-first: each takes some byte (the
    // closing quote where the string is whole; an escaped quote goes on). Returns how many states there were.
    internal static int AssertNoDeadEnd(CompiledSchema schema, int from, int to)
    {
        var start = new SchemaPrefix(schema);
        Assert.True(start.TryAdvance("{\"s\":\""u8));
        var seen = new HashSet<SchemaPrefix> { start };
        var queue = new Queue<SchemaPrefix>([start]);
        while (queue.TryDequeue(out SchemaPrefix state))
        {
            bool any = false;
            for (int b = from; b <= to; b++)
            {
                SchemaPrefix next = state;
                if (next.TryAdvance((byte)b))
                {
                    any = true;
                    if (!Ended(next) && seen.Add(next))
                    {
                        queue.Enqueue(next);
                    }
                }
            }
            Assert.True(any, "a string stands where no byte may follow");
        }
        return seen.Count;
    }

    // The string has closed: the object may end.
    private static bool Ended(SchemaPrefix state) => state.TryAdvance((byte)'}') && state.IsComplete;

    [Theory]
    [InlineData("^[a-z]+$", ",\"minLength\":2,\"maxLength\":3", "ab", true)]
    [InlineData("^[a-z]+$", ",\"minLength\":2,\"maxLength\":3", "a", false)]
    [InlineData("^[a-z]+$", ",\"minLength\":2,\"maxLength\":3", "abcd", false)]
    [InlineData("^[A-Z]{3}-\\d+$", ",\"minLength\":6", "ABC-12", true)]
    [InlineData("^[A-Z]{3}-\\d+$", ",\"minLength\":6", "ABC-1", false)]
    [InlineData("é", ",\"maxLength\":2", "\\u00e9x", true)]
    public void Lengths_beside_a_pattern_are_held_to(string pattern, string extra, string value, bool taken)
    {
        CompiledSchema schema = SchemaPrefixTests.Compile(Schema(pattern, extra));
        Assert.Equal(taken, SchemaPrefixTests.Refusal(schema, "{\"s\":\"" + value + "\"}", out bool complete) < 0 && complete);
    }

    [Fact]
    public void Random_patterns_take_exactly_what_ecmascript_matches_on_short_strings()
    {
        // 400 seeded patterns of characters, classes, the dot, groups, alternation, quantifiers, anchors anywhere and
        // lookaheads after a leading ^, each against every string of up to 4 of "abc1" (341 strings), StringPattern
        // against .NET's ECMAScript reading.
        var rng = new Random(11);
        string[] strings = [.. ShortOver("abc1", 4)];
        for (int i = 0; i < 400; i++)
        {
            string pattern = RandomPattern(rng, 3);
            if (rng.Next(5) == 0)
            {
                pattern = "^(?" + (rng.Next(2) == 0 ? "=" : "!") + RandomPattern(rng, 2) + ")" + pattern;
            }
            StringPattern? compiled = StringPattern.Compile(pattern, 0, -1);
            foreach (string value in strings)
            {
                bool expected = Regex.IsMatch(value, pattern, RegexOptions.ECMAScript);
                Assert.True(expected == (compiled?.Matches(value) ?? false), $"{pattern} on \"{value}\": ECMAScript says {expected}");
            }
        }
    }

    private static string RandomPattern(Random rng, int depth)
    {
        string atom = (depth == 0 ? rng.Next(6) : rng.Next(10)) switch
        {
            0 => "a",
            1 => "b",
            2 => "[ab]",
            3 => "[^a1]",
            4 => ".",
            5 => @"\d",
            6 => "(?:" + RandomPattern(rng, depth - 1) + ")",
            7 => "(" + RandomPattern(rng, depth - 1) + "|" + RandomPattern(rng, depth - 1) + ")",
            8 => "(?:" + RandomPattern(rng, depth - 1) + RandomPattern(rng, depth - 1) + ")",
            _ => rng.Next(2) == 0 ? "^" : "$",
        };
        if (atom is "^" or "$")
        {
            return atom;
        }
        return atom + rng.Next(9) switch
        {
            0 => "*",
            1 => "+",
            2 => "?",
            3 => "{" + rng.Next(3) + "}",
            4 => "{1,2}",
            5 => "*?",
            _ => "",
        };
    }

    // Every string of up to `length` characters of `alphabet`.
    private static IEnumerable<string> ShortOver(string alphabet, int length)
    {
        IEnumerable<string> level = [""];
        for (int i = 0; i <= length; i++)
        {
            foreach (string s in level)
            {
                yield return s;
            }
            level = [.. level.SelectMany(s => alphabet.Select(c => s + c))];
        }
    }

    [Theory]
    [InlineData("^[a-z]{3}$", 0, -1, 4)]           // 0, 1, 2 or 3 letters so far
    [InlineData("ab", 0, -1, 3)]                   // no a yet, an a last, matched (then anything)
    [InlineData("^(?:ab|a(?:b))(?:c|c)$", 0, -1, 4)]
    [InlineData("^(a|b)*$", 2, 4, 5)]              // 0 .. 4 characters
    [InlineData("^(?!^[-+.]*$)[+-]?0*\\d*\\.?\\d*$", 0, -1, 5)] // start, signed, a dot alone, digits, a dot after digits or digits after one
    public void Automata_have_as_few_states_as_tell_apart_what_may_follow(string pattern, int minLength, int maxLength, int states)
    {
        Assert.Equal(states, StringPattern.Compile(pattern, minLength, maxLength)!.StateCount);
    }

    [Fact]
    public void A_long_chain_of_counts_is_minimized_in_work_that_follows_its_states()
    {
        // maxLength 16,000 beside a pattern: a chain of 16,001 counts, which minimizing splits one state at a time.
        // Each split rebuilt the block the state left (545 MB allocated here, a minute for six lookaheads of
        // .{0,1000}); moving only the states that split off costs tens of megabytes.
        long before = GC.GetAllocatedBytesForCurrentThread();
        StringPattern? pattern = StringPattern.Compile("^[a-z]*$", 0, 16_000);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 96L << 20);
        Assert.Equal(16_001, pattern!.StateCount);
    }

    [Fact]
    public void A_pattern_and_lengths_no_string_meets_leave_no_value()
    {
        using JsonDocument doc = JsonDocument.Parse(Schema("^a$", ",\"minLength\":2"));
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(doc.RootElement));
        Assert.Equal("required", e.Keyword);
    }

    [Fact]
    public void A_listed_value_beside_a_pattern_string_is_taken_where_the_pattern_writes_it()
    {
        const string schema = """{"type":"object","properties":{"s":{"anyOf":[{"type":"string","pattern":"^[a-z]+$"},{"const":"abc"},{"type":"null"}]}},"required":["s"]}""";
        CompiledSchema compiled = SchemaPrefixTests.Compile(schema);
        Assert.True(SchemaPrefixTests.Refusal(compiled, "{\"s\":\"abc\"}", out _) < 0);
        using JsonDocument doc = JsonDocument.Parse("""{"type":"object","properties":{"s":{"anyOf":[{"type":"string","pattern":"^[a-z]+$"},{"const":"ABC"}]}}}""");
        Assert.Equal("anyOf", Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(doc.RootElement)).Keyword);
    }

    [Theory]
    [InlineData("anyOf", "^a+$", "^b+$")]
    [InlineData("oneOf", "a", "b")]
    [InlineData("oneOf", "^[a-c]*$", "^[b-d]*$")]
    [InlineData("anyOf", "^x", "z$")]
    [InlineData("oneOf", "^x", "z$")]
    [InlineData("oneOf", "^(?!.*a).+$", "^.{2}$")]
    public void String_branches_with_patterns_take_what_anyOf_and_oneOf_take(string combinator, string first, string second)
    {
        string schema = $$$"""{"type":"object","properties":{"s":{"{{{combinator}}}":[{"type":"string","pattern":{{{JsonSerializer.Serialize(first)}}}},{"type":"string","pattern":{{{JsonSerializer.Serialize(second)}}}}]}},"required":["s"],"additionalProperties":false}""";
        CompiledSchema compiled = SchemaPrefixTests.Compile(schema);
        int taken = 0;
        foreach (string value in Short(3))
        {
            bool a = Regex.IsMatch(value, first, RegexOptions.ECMAScript), b = Regex.IsMatch(value, second, RegexOptions.ECMAScript);
            bool expected = combinator == "anyOf" ? a || b : a != b;
            Assert.True(expected == Taken(compiled, value), $"\"{value}\": {combinator} says {expected}");
            taken += expected ? 1 : 0;
        }
        Assert.True(taken > 0);
    }

    [Theory]
    [InlineData("anyOf", """{"type":"string","maxLength":1},{"type":"string","minLength":3}""", "1,1,0,1,1")]
    [InlineData("oneOf", """{"type":"string","maxLength":2},{"type":"string","minLength":1}""", "1,0,0,1,1")]
    [InlineData("oneOf", """{"type":"string","pattern":"^a"},{"type":"string","pattern":"^a"},{"type":"string","pattern":"b"}""", "0,0,0,0,0")] // a string of a's matches two branches or none
    [InlineData("oneOf", """{"type":"string","pattern":"^a"},{"type":"string","pattern":"^a"},{"type":"string","pattern":"^$"}""", "1,0,0,0,0")]
    public void String_branches_of_lengths_a_gap_or_oneOf_parts_are_held_exactly(string combinator, string branches, string verdicts)
    {
        // Strings of 0 to 4 characters ("", "a", "aa", "aaa", "aaaa"): taken or not.
        CompiledSchema compiled = SchemaPrefixTests.Compile($$$"""{"type":"object","properties":{"s":{"{{{combinator}}}":[{{{branches}}}]}},"required":["s"]}""");
        Assert.Equal(verdicts, string.Join(',', Enumerable.Range(0, 5).Select(n => Taken(compiled, new string('a', n)) ? 1 : 0)));
    }

    [Fact]
    public void Pydantic_union_of_a_url_and_an_email_address_takes_both()
    {
        // Union[HttpUrl, EmailStr] in Pydantic 2.13.4's schema.
        CompiledSchema compiled = SchemaPrefixTests.Compile("""{"type":"object","properties":{"contact":{"anyOf":[{"format":"uri","maxLength":2083,"minLength":1,"type":"string"},{"format":"email","type":"string"}],"title":"Contact"}},"required":["contact"],"title":"M"}""");
        Assert.True(SchemaPrefixTests.Refusal(compiled, """{"contact":"https://example.org/a"}""", out bool url) < 0 && url);
        Assert.True(SchemaPrefixTests.Refusal(compiled, """{"contact":"ann@example.org"}""", out bool mail) < 0 && mail);
        Assert.False(SchemaPrefixTests.Refusal(compiled, """{"contact":"ann at example"}""", out bool other) < 0 && other);
    }

    [Theory]
    [InlineData("""{"anyOf":[{"type":"string","format":"date"},{"type":"string","pattern":"a"}]}""", "anyOf", "one string format")]
    public void String_branches_copal_cannot_join_are_refused_saying_why(string property, string keyword, string why)
    {
        using JsonDocument doc = JsonDocument.Parse($$$"""{"type":"object","properties":{"s":{{{property}}}}}""");
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(doc.RootElement));
        Assert.Matches(keyword, e.Keyword);
        Assert.Contains(why, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(@"(a)\1", "backreference")]
    [InlineData("(?<=a)b", "lookbehind")]
    [InlineData(@"\bword", "word boundary")]
    [InlineData("a{", "no quantifier")]
    [InlineData("a{2,1}", "out of order")]
    [InlineData("a{1001}", "past 1000")]
    [InlineData("[]", "empty class")]
    [InlineData("[a-[b]]", "'['")]
    [InlineData("[z-a]", "out of order")]
    [InlineData(@"[\d-z]", "class escape")]
    [InlineData("a(?=b)", "lookahead")]
    [InlineData("(?i)a", "'(?'")]
    [InlineData("(a", "never closed")]
    [InlineData("a)", "closes no group")]
    [InlineData("*a", "nothing")]
    [InlineData("a**", "after a quantifier")]
    [InlineData(@"\p{L}", "\\p")]
    [InlineData(@"\x4", "hexadecimal")]
    [InlineData(@"\ud800", "surrogate")]
    [InlineData("😀", "beyond U+FFFF")]
    [InlineData(@"\q", "no escape")]
    [InlineData("a\\", "lone backslash")]
    [InlineData(@"\_", "no escape")] // .NET refuses an escaped word character
    [InlineData(@"[\_]", "no escape")]
    [InlineData(@"\é", "no escape")]
    [InlineData("(?<a$>x)", "group name")] // .NET's group names are word characters
    [InlineData("(?<$>x)", "group name")]
    [InlineData("(?<a>x)|(?<a>y)", "twice")] // ECMAScript refuses a group name given twice
    [InlineData("((a{1000}){1000}){1000}", "states")]
    [InlineData("(a|b)*a(a|b){16}", "states")] // 2^17 states
    [InlineData("(.{0,1000}){0,100}", "states")]
    public void Patterns_copal_does_not_take_are_refused_in_one_line_saying_why(string pattern, string why)
    {
        using JsonDocument doc = JsonDocument.Parse(Schema(pattern));
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(doc.RootElement));
        Assert.Equal("pattern", e.Keyword);
        Assert.Equal("#/properties/s", e.Path);
        Assert.Contains(why, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData(PatternParser.MaxDepth + 1)]
    [InlineData(100_000)] // deep enough to overflow the stack of a parser that recursed into every group
    public void Groups_nested_past_the_most_are_refused_not_recursed_into(int depth)
    {
        string pattern = new string('(', depth) + "a" + new string(')', depth);
        using JsonDocument doc = JsonDocument.Parse(Schema(pattern));
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(doc.RootElement));
        Assert.Equal("pattern", e.Keyword);
        Assert.Contains("nested", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Groups_nested_to_the_most_are_taken()
    {
        string pattern = "^" + new string('(', PatternParser.MaxDepth) + "a" + new string(')', PatternParser.MaxDepth) + "$";
        Assert.True(SchemaPrefixTests.Refusal(SchemaPrefixTests.Compile(Schema(pattern)), "{\"s\":\"a\"}", out bool complete) < 0 && complete);
    }

    [Theory]
    [InlineData("""{"type":"object","properties":{"s":{"type":"string","pattern":"a","format":"date"}}}""", "pattern")]
    [InlineData("""{"type":"object","properties":{"s":{"type":"string","pattern":7}}}""", "pattern")]
    [InlineData("""{"type":"object","properties":{"s":{"enum":["a"],"pattern":"a"}}}""", "pattern")]
    public void Patterns_beside_what_copal_cannot_join_them_with_are_refused(string schema, string keyword)
    {
        using JsonDocument doc = JsonDocument.Parse(schema);
        Assert.Equal(keyword, Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(doc.RootElement)).Keyword);
    }

    // Every string of up to `length` characters of the alphabet.
    private static IEnumerable<string> Short(int length) => ShortOver(Alphabet, length);

    private static string Mutate(string value, Random rng)
    {
        char c = Alphabet[rng.Next(Alphabet.Length)];
        int at = rng.Next(value.Length + 1);
        return rng.Next(3) switch
        {
            0 => value.Insert(at, c.ToString()),
            1 when at < value.Length => value.Remove(at, 1),
            _ when at < value.Length => value[..at] + c + value[(at + 1)..],
            _ => value + c,
        };
    }

    // Random replies' values of property "s": bytes drawn among the candidates the automaton takes (half the time from
    // the printable ASCII it takes, so that literal characters come up), the closing quote half the time it may come;
    // never stranded. Past 16 bytes a walk ends along the shortest way to a closing quote (an unanchored pattern may
    // need a run that random bytes would take long to hit).
    internal static List<string> Walks(CompiledSchema schema, Random rng, int count, byte[] candidates)
    {
        var values = new List<string>();
        for (int walk = 0; walk < count; walk++)
        {
            var state = new SchemaPrefix(schema);
            Assert.True(state.TryAdvance("{\"s\":\""u8));
            var bytes = new List<byte>();
            while (bytes.Count < 16)
            {
                byte[] allowed = [.. candidates.Where(b => Taking(state, b))];
                Assert.NotEmpty(allowed);
                byte[] printable = [.. allowed.Where(b => b is >= 0x20 and < 0x7F and not (byte)'"' and not (byte)'\\')];
                byte next = Closes(state) && (allowed.Length == 1 || rng.Next(2) == 0) ? (byte)'"'
                    : printable.Length > 0 && rng.Next(2) == 0 ? printable[rng.Next(printable.Length)]
                    : allowed.Where(b => b != '"').ElementAt(rng.Next(allowed.Count(b => b != '"')));
                if (next == '"')
                {
                    break;
                }
                Assert.True(state.TryAdvance(next));
                bytes.Add(next);
            }
            List<byte> rest = ShortestToClose(state, candidates);
            Assert.True(state.TryAdvance([.. rest, (byte)'"', (byte)'}']) && state.IsComplete);
            bytes.AddRange(rest);
            values.Add(JsonSerializer.Deserialize<string>("\"" + Encoding.UTF8.GetString([.. bytes]) + "\"")!);
        }
        return values;
    }

    // The fewest bytes (of the candidates) after which the string may close, breadth-first over the automaton's states.
    private static List<byte> ShortestToClose(SchemaPrefix start, byte[] candidates)
    {
        var from = new Dictionary<SchemaPrefix, (SchemaPrefix Parent, byte Byte)>();
        var queue = new Queue<SchemaPrefix>([start]);
        var seen = new HashSet<SchemaPrefix> { start };
        while (queue.TryDequeue(out SchemaPrefix state))
        {
            if (Closes(state))
            {
                var path = new List<byte>();
                for (SchemaPrefix at = state; !at.Equals(start); at = from[at].Parent)
                {
                    path.Add(from[at].Byte);
                }
                path.Reverse();
                return path;
            }
            foreach (byte b in candidates)
            {
                SchemaPrefix next = state;
                if (b != '"' && next.TryAdvance(b) && seen.Add(next))
                {
                    from[next] = (state, b);
                    queue.Enqueue(next);
                }
            }
        }
        throw new InvalidOperationException("no way to close the string: the automaton stranded a walk");
    }

    private static bool Taking(SchemaPrefix state, byte b) => state.TryAdvance(b);

    // The string may close here (a quote that ends it, not one escaped), ending the object.
    private static bool Closes(SchemaPrefix state) => state.TryAdvance("\"}"u8) && state.IsComplete;
}
