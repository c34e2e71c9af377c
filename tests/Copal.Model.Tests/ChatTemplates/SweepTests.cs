using System.Text.Json;
using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>A fact that runs only when COPAL_CHAT_TEMPLATE_SWEEP names a file made by tools/chat-templates/sweep.mjs; else skipped with that reason.</summary>
public sealed class SweepFactAttribute : FactAttribute
{
    public SweepFactAttribute()
    {
        string? path = Environment.GetEnvironmentVariable("COPAL_CHAT_TEMPLATE_SWEEP");
        if (string.IsNullOrEmpty(path) || !File.Exists(path))
        {
            Skip = "COPAL_CHAT_TEMPLATE_SWEEP does not name a sweep file (make one with tools/chat-templates/sweep.mjs)";
        }
    }
}

/// <summary>
/// Every template of the wider sweep renders as the reference does, or is refused where the reference refuses, except
/// where docs/chat-templates.md says Copal renders beyond the reference or writes a mapping's JSON where it writes
/// "[object Map]".
/// </summary>
public class SweepTests
{
    [SweepFact]
    public void Every_swept_template_matches_the_reference()
    {
        string path = Environment.GetEnvironmentVariable("COPAL_CHAT_TEMPLATE_SWEEP")!;
        var failures = new List<string>();
        int renders = 0;
        foreach (string line in File.ReadLines(path).Where(l => l.Length > 0))
        {
            using var doc = JsonDocument.Parse(line);
            JsonElement r = doc.RootElement;
            renders++;
            Conversation c = ChatTemplateGoldens.Case(r.GetProperty("case").GetString()!);
            var tokens = r.GetProperty("tokens").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
            string what = $"{r.GetProperty("model").GetString()} {r.GetProperty("case").GetString()} agp={r.GetProperty("add_generation_prompt").GetBoolean()}";
            string? ours;
            try
            {
                ours = new ChatTemplate(r.GetProperty("template").GetString()!, tokens)
                    .Render(c.Messages, r.GetProperty("add_generation_prompt").GetBoolean(), c.Tools, c.Extra);
            }
            catch (ChatTemplateException e)
            {
                if (!r.TryGetProperty("error", out _))
                {
                    failures.Add($"{what}: refused ({e.Message}) where the reference renders");
                }
                continue;
            }
            if (r.TryGetProperty("error", out JsonElement err))
            {
                if (!RendersBeyondTheReference(err.GetString()!, r.GetProperty("template").GetString()!))
                {
                    failures.Add($"{what}: rendered where the reference refuses ({err.GetString()})");
                }
            }
            else if (ours != r.GetProperty("output").GetString() && !WritesJsonForObjectMap(r.GetProperty("output").GetString()!, ours))
            {
                failures.Add($"{what}: text differs");
            }
        }
        Assert.True(renders > 0, "empty sweep file");
        Assert.True(failures.Count == 0, $"{failures.Count} of {renders} renders differ:\n{string.Join("\n", failures.Take(20))}");
    }

    [Fact]
    public void Only_a_json_object_in_place_of_object_map_is_allowed()
    {
        Assert.True(WritesJsonForObjectMap("call: [object Map]</c>", "call: {\"tz\": \"Asia/Tokyo\", \"n\": {\"é\": [1]}}</c>"));
        Assert.True(WritesJsonForObjectMap("[object Map][object Map]", "{}{\"a\": 1}"));
        Assert.False(WritesJsonForObjectMap("call: [object Map]</c>", "call: {\"tz\": 1}</d>"));
        Assert.False(WritesJsonForObjectMap("call: [object Map]</c>", "call: [1]</c>"));
        Assert.False(WritesJsonForObjectMap("call: [object Map]</c>", "call: {\"tz\": 1</c>"));
        Assert.False(WritesJsonForObjectMap("call: x", "call: x"));
        Assert.False(WritesJsonForObjectMap("[object Map]", "{} "));
    }

    // The documented text beyond the reference: DeepSeek R1's and V3.1's templates add a tool call's arguments, a
    // mapping, to a string, where the reference writes "[object Map]" and Copal the mapping's JSON (as llama.cpp
    // does). So the text must be the reference's with each "[object Map]" a JSON object, and nothing else may differ.
    // Without this the test failed on those 6 renders since that choice was made, so no run passed.
    internal static bool WritesJsonForObjectMap(string reference, string ours)
    {
        string[] parts = reference.Split("[object Map]");
        if (parts.Length < 2)
        {
            return false;
        }
        int at = 0;
        for (int i = 0; i < parts.Length; i++)
        {
            if (!ours.AsSpan(at).StartsWith(parts[i], StringComparison.Ordinal))
            {
                return false;
            }
            at += parts[i].Length;
            if (i == parts.Length - 1)
            {
                return at == ours.Length;
            }
            if (JsonObjectLength(ours, at) is not int length)
            {
                return false;
            }
            at += length;
        }
        return false;
    }

    // The length in characters of the JSON object that starts at `at`, or null when none does.
    private static int? JsonObjectLength(string text, int at)
    {
        if (at >= text.Length || text[at] != '{')
        {
            return null;
        }
        byte[] utf8 = System.Text.Encoding.UTF8.GetBytes(text[at..]);
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { AllowTrailingCommas = false });
        try
        {
            reader.Read();
            reader.Skip();
        }
        catch (JsonException)
        {
            return null;
        }
        return System.Text.Encoding.UTF8.GetCharCount(utf8, 0, (int)reader.BytesConsumed);
    }

    // The documented renders beyond the reference: Jinja2's select and reject (Qwen3-Coder's template), and a
    // template that reads a message's content as parts, which the reference was handed as a string (Llama Guard 3's
    // selectattr over it) and Copal hands as parts. Without this the test failed on those 10 renders, so no run passed.
    private static bool RendersBeyondTheReference(string referenceError, string template) =>
        referenceError is "Unknown ArrayValue filter: select" or "Unknown ArrayValue filter: reject"
        || (referenceError.StartsWith("Unknown StringValue filter: ", StringComparison.Ordinal) && new ChatTemplate(template).ReadsContentAsParts());
}
