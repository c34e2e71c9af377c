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
/// where docs/chat-templates.md says Copal renders beyond the reference.
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
            else if (ours != r.GetProperty("output").GetString())
            {
                failures.Add($"{what}: text differs");
            }
        }
        Assert.True(renders > 0, "empty sweep file");
        Assert.True(failures.Count == 0, $"{failures.Count} of {renders} renders differ:\n{string.Join("\n", failures.Take(20))}");
    }

    // The documented renders beyond the reference: Jinja2's select and reject (Qwen3-Coder's template), and a
    // template that reads a message's content as parts, which the reference was handed as a string (Llama Guard 3's
    // selectattr over it) and Copal hands as parts. Without this the test failed on those 10 renders, so no run passed.
    private static bool RendersBeyondTheReference(string referenceError, string template) =>
        referenceError is "Unknown ArrayValue filter: select" or "Unknown ArrayValue filter: reject"
        || (referenceError.StartsWith("Unknown StringValue filter: ", StringComparison.Ordinal) && new ChatTemplate(template).ReadsContentAsParts());
}
