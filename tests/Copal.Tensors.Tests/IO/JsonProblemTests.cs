using System.Text.Json;
using Copal.Tensors.IO;

namespace Copal.Tensors.Tests.IO;

/// <summary>A JSON error is one line: where, counted from 1, and the reader's reason without its own 0-based coordinates.</summary>
public sealed class JsonProblemTests
{
    [Fact]
    public void A_reader_error_says_where_from_1_and_why_once()
    {
        JsonException e = Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse("{\"a\": 1,,}"));
        Assert.Equal("at line 1, byte 9: ',' is an invalid start of a property name. Expected a '\"'.", JsonProblem.At(e));
        Assert.Equal("',' is an invalid start of a property name. Expected a '\"'.", JsonProblem.Reason(e));
    }

    [Fact]
    public void A_conversion_error_keeps_the_property_it_names()
    {
        JsonException e = Assert.ThrowsAny<JsonException>(() => JsonSerializer.Deserialize<Dictionary<string, int>>("{\n\"steps\": \"x\"}"));
        string at = JsonProblem.At(e);
        Assert.StartsWith("at line 2, byte ", at, StringComparison.Ordinal);
        Assert.EndsWith(" (at $.steps)", at, StringComparison.Ordinal);
        Assert.DoesNotContain("LineNumber", at, StringComparison.Ordinal);
    }
}
