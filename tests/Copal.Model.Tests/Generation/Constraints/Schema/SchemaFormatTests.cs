using System.Globalization;
using System.Net;
using System.Net.Mail;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Copal.Model.Generation.Constraints.Schema;
using Json.Schema;

namespace Copal.Model.Tests.Generation.Constraints.Schema;

/// <summary>
/// Strings held to a format (date, date-time, uuid): what the automaton takes whole is valid to JsonSchema.Net with
/// format validation on and reads back in .NET (DateOnly, DateTimeOffset, Guid); every real date of four years of
/// different leap rules is taken, and no impossible one; random walks never strand.
/// </summary>
public class SchemaFormatTests
{
    private static readonly EvaluationOptions s_formats = new() { RequireFormatValidation = true };

    private static string Schema(string format) =>
        $$$"""{"type":"object","properties":{"s":{"type":"string","format":"{{{format}}}"}},"required":["s"],"additionalProperties":false}""";

    private static bool Taken(CompiledSchema schema, string value)
    {
        int at = SchemaPrefixTests.Refusal(schema, "{\"s\":\"" + value + "\"}", out bool complete);
        return at < 0 && complete;
    }

    [Theory]
    [InlineData(1900)] // divisible by 100: common
    [InlineData(2000)] // divisible by 400: leap
    [InlineData(2023)]
    [InlineData(2024)]
    public void Every_real_date_and_no_other_is_taken(int year)
    {
        CompiledSchema schema = SchemaPrefixTests.Compile(Schema("date"));
        int taken = 0;
        for (int month = 0; month <= 13; month++)
        {
            for (int day = 0; day <= 32; day++)
            {
                string text = FormattableString.Invariant($"{year:D4}-{month:D2}-{day:D2}");
                bool real = DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _);
                Assert.True(real == Taken(schema, text), text);
                taken += real ? 1 : 0;
            }
        }
        Assert.Equal(DateTime.IsLeapYear(year) ? 366 : 365, taken);
    }

    [Theory]
    [InlineData("date-time", "2024-02-29T23:59:59Z", true)]
    [InlineData("date-time", "2024-02-29T00:00:00.1234567+05:30", true)]
    [InlineData("date-time", "1000-01-01T00:00:00-14:00", true)]
    [InlineData("date-time", "9998-12-31T23:59:59+13:59", true)]
    [InlineData("date-time", "2024-01-01T00:00:00+14:01", false)]     // .NET's offsets end at 14 hours
    [InlineData("date-time", "9999-12-31T23:00:00-05:00", false)]     // past .NET's last year in UTC
    [InlineData("date-time", "0999-12-31T00:00:00Z", false)]
    [InlineData("date-time", "2023-02-29T00:00:00Z", false)]        // no 29 February in 2023
    [InlineData("date-time", "2024-01-01T24:00:00Z", false)]
    [InlineData("date-time", "2024-01-01T10:60:00Z", false)]
    [InlineData("date-time", "2024-01-01T10:00:00", false)]         // an offset is required
    [InlineData("date-time", "2024-01-01T10:00:00.Z", false)]       // a dot needs a digit
    [InlineData("date-time", "2024-01-01T10:00:00.12345678Z", false)] // more than a tick's 7 decimals
    [InlineData("date-time", "2024-01-01t10:00:00z", false)]        // lowercase, which .NET does not read
    [InlineData("date-time", "0000-01-01T00:00:00Z", false)]
    [InlineData("date", "2024-1-01", false)]
    [InlineData("uuid", "123e4567-e89b-12d3-A456-426614174000", true)]
    [InlineData("uuid", "123e4567e89b12d3a456426614174000", false)]
    [InlineData("uuid", "123e4567-e89b-12d3-a456-42661417400g", false)]
    [InlineData("uri", "https://example.com:8080/a/b%20c?q=1&r=/x#top", true)]
    [InlineData("uri", "http://a-b.c0/", true)]
    [InlineData("uri", "http://1.2.3.4/", false)]                  // a host whose last label is a number: not written
    [InlineData("uri", "http://a:65536/", false)]
    [InlineData("uri", "ftp://a/", false)]                         // another scheme: valid, never written
    [InlineData("uri", "http://a/b c", false)]
    [InlineData("uri", "http://xn--a.example/", false)]           // Pydantic 2.13: "invalid international domain name"
    [InlineData("uri", "http://a-b.example/", true)]
    [InlineData("email", "ann.lee+tag@mail.example.org", true)]
    [InlineData("email", "ann..lee@example.org", false)]
    [InlineData("email", "ann@example.o", false)]                   // JsonSchema.Net refuses a one-letter top-level domain
    [InlineData("email", "ann@-example.org", false)]
    [InlineData("hostname", "a-1.example", true)]
    [InlineData("hostname", "a_1.example", false)]
    [InlineData("hostname", "xn--a.example", false)]               // "--" third and fourth: IDNA's, and no Punycode
    [InlineData("hostname", "ab--c.example", false)]               // JsonSchema.Net refuses it
    [InlineData("hostname", "ab-c.a--b.example", true)]
    [InlineData("email", "ann@xn--a.example", false)]
    [InlineData("hostname", "example.-a", false)]
    [InlineData("duration", "P1DT2H3M4S", true)]
    [InlineData("duration", "PT36H", true)]
    [InlineData("duration", "P3D", true)]
    [InlineData("duration", "PT1H5S", false)]                     // RFC 3339 writes the minutes between
    [InlineData("duration", "P", false)]
    [InlineData("duration", "PT", false)]
    [InlineData("duration", "P1Y", false)]                        // valid, never written: a year's length varies
    [InlineData("duration", "PT99999999M", false)]                // Pydantic 2.13: "a numeric value in the duration is too large"
    [InlineData("duration", "PT100000H", false)]                  // with minutes and seconds, past Pydantic's 2^32 seconds
    [InlineData("duration", "P999999DT99999H9999999M999999999S", true)] // Pydantic 2.13 and TimeSpan both read it
    [InlineData("time", "23:59:59Z", true)]
    [InlineData("time", "08:30:00.123456789+05:30", true)]
    [InlineData("time", "08:30:00", false)]                       // RFC 3339 requires the offset
    [InlineData("time", "24:00:00Z", false)]
    [InlineData("time", "08:60:00Z", false)]
    [InlineData("ipv6", "2001:db8::8a2e:370:7334", true)]
    [InlineData("ipv6", "::", true)]
    [InlineData("ipv6", "::1", true)]
    [InlineData("ipv6", "fe80::", true)]
    [InlineData("ipv6", "1:2:3:4:5:6:7:8", true)]
    [InlineData("ipv6", "1:2:3:4:5:6:7:8:9", false)]
    [InlineData("ipv6", "1::2::3", false)]
    [InlineData("ipv6", "12345::", false)]
    [InlineData("ipv6", "::ffff:1.2.3.4", false)]                 // valid, never written: no embedded IPv4
    [InlineData("ipv4", "192.168.0.255", true)]
    [InlineData("ipv4", "192.168.0.256", false)]
    [InlineData("ipv4", "01.2.3.4", false)]
    public void Hand_picked_strings_are_taken_as_the_format_says(string format, string value, bool valid)
    {
        Assert.Equal(valid, Taken(SchemaPrefixTests.Compile(Schema(format)), value));
    }

    [Theory]
    [InlineData("date")]
    [InlineData("date-time")]
    [InlineData("uuid")]
    public void No_string_a_format_takes_is_a_dead_end(string format)
    {
        // Every state the format's automaton reaches, breadth-first over printable ASCII: each takes some byte (the
        // closing quote where the string is whole). Exhaustive: the states are the format's progress, a few thousand.
        Assert.True(SchemaPatternTests.AssertNoDeadEnd(SchemaPrefixTests.Compile(Schema(format)), 0x20, 0x7E) > 36);
    }

    [Theory]
    [InlineData("date", "0000")]
    [InlineData("date-time", "9999")]
    [InlineData("date-time", "0")]
    public void A_year_no_date_can_follow_is_never_begun(string format, string year)
    {
        // Its last digit is refused: the walk would stand before a '-' it may not write.
        var state = new SchemaPrefix(SchemaPrefixTests.Compile(Schema(format)));
        Assert.False(state.TryAdvance(Encoding.ASCII.GetBytes("{\"s\":\"" + year)));
    }

    [Theory]
    [InlineData("date")]
    [InlineData("date-time")]
    [InlineData("uuid")]
    [InlineData("uri")]
    [InlineData("email")]
    [InlineData("hostname")]
    [InlineData("ipv4")]
    [InlineData("duration")]
    [InlineData("ipv6")]
    [InlineData("time")]
    public void Random_walks_end_in_strings_the_reference_and_dotnet_both_read(string format)
    {
        string schema = Schema(format);
        CompiledSchema compiled = SchemaPrefixTests.Compile(schema);
        JsonSchema reference = JsonSchema.FromText(schema);
        // Printable ASCII, the backslash among it (which a format, written without escapes, never takes).
        byte[] printable = [.. Enumerable.Range(0x20, 0x5F).Select(b => (byte)b)];
        foreach (string value in SchemaPatternTests.Walks(compiled, new Random(7), 300, printable))
        {
            using JsonDocument doc = JsonDocument.Parse("{\"s\":" + JsonSerializer.Serialize(value) + "}");
            Assert.True(reference.Evaluate(doc.RootElement, s_formats).IsValid, $"{value} is not a {format} to the reference");
            Assert.True(format switch
            {
                "date" => DateOnly.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _),
                "date-time" => DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.None, out _),
                "uri" => Uri.TryCreate(value, UriKind.Absolute, out Uri? uri) && uri.Scheme is "http" or "https",
                "email" => MailAddress.TryCreate(value, out MailAddress? mail) && mail.Address == value,
                "hostname" => Uri.CheckHostName(value) == UriHostNameType.Dns,
                "duration" => TryDuration(value),
                // .NET's TimeOnly reads no offset; DateTimeOffset reads the time on a day.
                "time" => DateTimeOffset.TryParse("2024-01-01T" + value, CultureInfo.InvariantCulture, DateTimeStyles.None, out _),
                "ipv6" => IPAddress.TryParse(value, out IPAddress? ip6) && ip6.AddressFamily == AddressFamily.InterNetworkV6,
                "ipv4" => IPAddress.TryParse(value, out IPAddress? ip) && ip.AddressFamily == AddressFamily.InterNetwork && ip.ToString() == value,
                _ => Guid.TryParse(value, out _),
            }, $"{value} does not read as a {format} in .NET");
        }
    }

    [Theory]
    [InlineData("uuid", "\\u0031", false)]
    [InlineData("email", "a\\u0040b.cd", false)]
    [InlineData("uri", "http:\\/\\/a.b", false)]
    [InlineData(null, "\\u0031", true)]
    public void A_format_is_written_without_escapes_and_a_pattern_with_them(string? format, string escaped, bool taken)
    {
        // A format's characters never need an escape, so its walk begins none (fewer tokens to explore); a pattern's
        // string may need one (a quote, a control character) and takes any.
        string schema = format is null
            ? """{"type":"object","properties":{"s":{"type":"string","pattern":"^[0-9a-f]+$"}},"required":["s"],"additionalProperties":false}"""
            : Schema(format);
        int at = SchemaPrefixTests.Refusal(SchemaPrefixTests.Compile(schema), "{\"s\":\"" + escaped, out _);
        Assert.Equal(taken ? -1 : "{\"s\":\"".Length + escaped.IndexOf('\\', StringComparison.Ordinal), at);
    }

    [Fact]
    public void A_required_format_its_lengths_leave_no_string_for_is_refused_saying_so()
    {
        // A uuid is 36 characters: at least 40 leaves none, and the message names the lengths among the causes.
        using JsonDocument doc = JsonDocument.Parse("""{"type":"object","properties":{"u":{"type":"string","format":"uuid","minLength":40}},"required":["u"]}""");
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(doc.RootElement));
        Assert.Equal("required", e.Keyword);
        Assert.Contains("#/properties/u admits no value (its type, enum, const, branches, format, pattern or lengths leave none)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_uuid_joins_another_string_branch()
    {
        // A Guid or a marker, as an optional identifier is often given: the uuid format is a pattern, so the two
        // string branches compile into one automaton.
        CompiledSchema schema = SchemaPrefixTests.Compile(
            """{"type":"object","properties":{"s":{"anyOf":[{"type":"string","format":"uuid"},{"type":"string","pattern":"^n/a$"}]}},"required":["s"],"additionalProperties":false}""");
        Assert.True(Taken(schema, "123e4567-e89b-12d3-A456-426614174000"));
        Assert.True(Taken(schema, "n/a"));
        Assert.False(Taken(schema, "n/b"));
        Assert.False(Taken(schema, "123e4567-e89b-12d3-A456-42661417400"));
    }

    [Theory]
    [InlineData("""{"type":"object","properties":{"s":{"type":"string","format":"idn-email"}}}""", "format")]
    [InlineData("""{"type":"object","properties":{"s":{"type":"string","format":"uri","pattern":"^h"}}}""", "pattern")]
    [InlineData("""{"type":"object","properties":{"s":{"type":"string","format":"date","maxLength":10}}}""", "format")]
    [InlineData("""{"type":"object","properties":{"s":{"anyOf":[{"type":"string","format":"date"},{"type":"string","format":"uuid"}]}}}""", "anyOf")]
    [InlineData("""{"type":"object","properties":{"s":{"anyOf":[{"type":"string","format":"date"},{"const":"never"}]}}}""", "anyOf")]
    public void Formats_copal_cannot_hold_to_are_refused_naming_them(string schema, string keyword)
    {
        using JsonDocument doc = JsonDocument.Parse(schema);
        SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(doc.RootElement));
        Assert.Equal(keyword, e.Keyword);
    }

    private static bool TryDuration(string value)
    {
        try
        {
            System.Xml.XmlConvert.ToTimeSpan(value);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    [Fact]
    public void A_url_with_labels_past_63_characters_is_one_every_reader_takes()
    {
        // URL readers do not count a host's labels (only DNS names do), so the uri format leaves them uncounted.
        string url = "http://" + new string('a', 70) + ".example/x";
        Assert.True(Taken(SchemaPrefixTests.Compile(Schema("uri")), url));
        using JsonDocument doc = JsonDocument.Parse(JsonSerializer.Serialize(url));
        Assert.True(JsonSchema.FromText("""{"format":"uri"}""").Evaluate(doc.RootElement, s_formats).IsValid);
        Assert.True(Uri.TryCreate(url, UriKind.Absolute, out _));
    }

    [Fact]
    public void A_url_whose_host_is_past_255_characters_with_a_label_past_63_is_never_written()
    {
        // .NET's Uri (and so JsonSchema.Net) reads such a host as a basic one, and refuses it a little past 255 characters.
        string url = "http://" + new string('a', 255) + ".b/";
        using JsonDocument doc = JsonDocument.Parse(JsonSerializer.Serialize(url));
        Assert.False(JsonSchema.FromText("""{"format":"uri"}""").Evaluate(doc.RootElement, s_formats).IsValid);
        Assert.False(Uri.TryCreate(url, UriKind.Absolute, out _));
        Assert.False(Taken(SchemaPrefixTests.Compile(Schema("uri")), url));
        Assert.True(Taken(SchemaPrefixTests.Compile(Schema("uri")), "http://" + new string('a', 253) + ".b"));
    }

    [Fact]
    public void A_maxLength_past_what_the_automaton_folds_in_is_held_to_the_longest_that_fits()
    {
        // A pattern of many states under Pydantic's URL maxLength of 2,083 would need a state per count of each of its
        // states; the most is lowered instead, so the schema compiles and every string it writes is valid.
        CompiledSchema schema = SchemaPrefixTests.Compile("""{"type":"object","properties":{"s":{"type":"string","pattern":"^([a-z]{0,40}-){0,3}x+$","minLength":1,"maxLength":2083}},"required":["s"]}""");
        Assert.True(Taken(schema, new string('x', 10)));
        Assert.False(Taken(schema, new string('x', 2000)));
    }

    [Fact]
    public void A_format_on_a_type_other_than_string_does_not_apply()
    {
        // OpenAPI writes int32 and double on numbers: to JSON Schema, format is about strings only.
        CompiledSchema schema = SchemaPrefixTests.Compile("""{"type":"object","properties":{"n":{"type":"integer","format":"int32"}},"required":["n"],"additionalProperties":false}""");
        Assert.Equal(-1, SchemaPrefixTests.Refusal(schema, "{\"n\":12}", out bool complete));
        Assert.True(complete);
    }
}
