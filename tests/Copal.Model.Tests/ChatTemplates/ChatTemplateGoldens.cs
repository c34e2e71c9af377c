using System.Text.Json;
using Copal.Model.ChatTemplates;
using Copal.Testing;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>The committed goldens (tools/chat-templates/render-goldens.mjs) and the inputs they were rendered from.</summary>
internal static class ChatTemplateGoldens
{
    public static string DataDir => TestData.RepoPath("tests", "Copal.Model.Tests", "ChatTemplates", "Data");

    /// <summary>Templates read from the shared tokenizers folder rather than from Data/templates.</summary>
    private static readonly string[] s_shared = ["llama3", "qwen3"];

    public static IEnumerable<string> Names =>
        Directory.GetFiles(Path.Combine(DataDir, "goldens"), "*.jsonl").Select(f => Path.GetFileNameWithoutExtension(f)!).Order(StringComparer.Ordinal);

    public static string TemplateDir(string name) =>
        s_shared.Contains(name) ? TestData.Path("tokenizers", name) : Path.Combine(DataDir, "templates", name);

    public static IReadOnlyList<Golden> Load(string name) =>
        File.ReadAllLines(Path.Combine(DataDir, "goldens", name + ".jsonl"))
            .Where(l => l.Length > 0)
            .Select(l =>
            {
                using var doc = JsonDocument.Parse(l);
                JsonElement r = doc.RootElement;
                return new Golden(r.GetProperty("case").GetString()!, r.GetProperty("add_generation_prompt").GetBoolean(),
                    r.TryGetProperty("output", out JsonElement o) ? o.GetString() : null,
                    r.TryGetProperty("error", out JsonElement e) ? e.GetString() : null);
            }).ToList();

    private static readonly Lazy<JsonElement> s_conversations = new(() =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(DataDir, "conversations.json"))).RootElement.Clone());

    public static Conversation Case(string id)
    {
        JsonElement root = s_conversations.Value;
        JsonElement c = root.GetProperty("cases").EnumerateArray().Single(x => x.GetProperty("id").GetString() == id);
        var messages = c.GetProperty("messages").EnumerateArray().Select(m =>
        {
            var extra = new Dictionary<string, object?>();
            foreach (JsonProperty p in m.EnumerateObject())
            {
                if (p.Name is not ("role" or "content"))
                {
                    extra[p.Name] = p.Value;
                }
            }
            JsonElement content = m.GetProperty("content");
            return new ChatTemplateMessage(m.GetProperty("role").GetString()!,
                content.ValueKind == JsonValueKind.Null ? null : content.GetString(), extra.Count > 0 ? extra : null);
        }).ToList();
        List<object>? tools = c.TryGetProperty("tools", out JsonElement t)
            ? root.GetProperty("tools").GetProperty(t.GetString()!).EnumerateArray().Select(x => (object)x).ToList()
            : null;
        Dictionary<string, object?>? extraVars = c.TryGetProperty("extra", out JsonElement e)
            ? e.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value)
            : null;
        return new Conversation(messages, tools, extraVars);
    }
}

internal sealed record Golden(string Case, bool AddGenerationPrompt, string? Output, string? Error);

internal sealed record Conversation(List<ChatTemplateMessage> Messages, List<object>? Tools, Dictionary<string, object?>? Extra);
