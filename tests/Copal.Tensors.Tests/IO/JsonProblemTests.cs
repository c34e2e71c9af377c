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

    /// <summary>The reader's texts meant for programmers become ones for the person who wrote the file, on one line.</summary>
    [Theory]
    [InlineData("", "at line 1, byte 1: there is no JSON value (the text is empty, or only whitespace or comments)")]
    [InlineData("not json{\n", "at line 1, byte 2: 'not json{\\n' is an invalid JSON literal. Expected the literal 'null'.")]
    [InlineData("[1,2,]", "at line 1, byte 6: the JSON array ends with a comma, which JSON does not allow")]
    [InlineData("{\"a\": 1,}", "at line 1, byte 9: the JSON object ends with a comma, which JSON does not allow")]
    public void Texts_for_programmers_are_said_for_people_on_one_line(string json, string expected)
    {
        JsonException e = Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(json));
        Assert.Equal(expected, JsonProblem.At(e));
    }

    /// <summary>
    /// A binary file given as JSON: the reader quotes the unknown word up to the next delimiter, which was the rest of
    /// the file (7.5 KB of raw bytes, escape sequences included, on the terminal). Cut, with its control characters escaped.
    /// </summary>
    [Fact]
    public void A_binary_file_is_quoted_short_with_its_control_characters_escaped()
    {
        string binary = "t\u001b[2J\f\u2028" + new string('\u00e9', 5000);
        JsonException e = Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(binary));
        Assert.Equal("at line 1, byte 2: 't\\u001B[2J\\u000C\\u2028" + new string('\u00e9', 33) + "…' is an invalid JSON literal. Expected the literal 'true'.", JsonProblem.At(e));
    }

    /// <summary>Read by the serializer, the reason carries the property's path, which the rewrite keeps.</summary>
    [Fact]
    public void A_trailing_comma_met_by_the_serializer_keeps_its_path()
    {
        JsonException e = Assert.ThrowsAny<JsonException>(() => JsonSerializer.Deserialize<Dictionary<string, int[]>>("{\"a\": [1,]}"));
        Assert.Equal("the JSON array ends with a comma, which JSON does not allow (at $.a[1])", JsonProblem.Reason(e));
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

    private sealed record Manifest(IReadOnlyList<Step>? Datasets, Dictionary<string, int>? Counts, Dictionary<string, string>? Options);

    private sealed record Step(double Weight, bool Done);

    /// <summary>
    /// The serializer names the .NET type it wanted ("could not be converted to
    /// System.Collections.Generic.IReadOnlyList`1[Copal.Prune.Continual.CopalStepRecord]" for a COPAL state manifest);
    /// the message says the JSON kind instead, or for a constructor's parameter, where it names the type holding it,
    /// only that the value has the wrong type.
    /// </summary>
    [Theory]
    [InlineData("{\"Datasets\": \"x\"}", "expected a list here (at $.Datasets)")]
    [InlineData("{\"Counts\": {\"a\": \"1\"}}", "expected an integer here (at $.Counts.a)")]
    [InlineData("{\"Options\": []}", "expected an object here (at $.Options)")]
    [InlineData("{\"Datasets\": [{\"Done\": 1}]}", "the value here has the wrong type (at $.Datasets[0].Done)")]
    public void A_conversion_error_names_the_json_kind_not_the_dotnet_type(string json, string expected)
    {
        JsonException e = Assert.ThrowsAny<JsonException>(() => JsonSerializer.Deserialize<Manifest>(json));
        Assert.Equal(expected, JsonProblem.Reason(e));
    }
}
