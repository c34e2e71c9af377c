using System.Text.Json;
using Copal.Model.Chat;
using Copal.Model.ChatTemplates;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>The chat-template goldens Copal.Model.Tests keeps (rendered by the reference renderer), read here for the serving paths.</summary>
internal static class TemplateGoldens
{
    public static string DataDir { get; } = TestData.RepoPath("tests", "Copal.Model.Tests", "ChatTemplates", "Data");

    /// <summary>A formatter over one of the committed templates (Data/templates/NAME).</summary>
    public static TemplateChatFormatter Formatter(string name) =>
        new(ChatTemplate.FromDirectory(Path.Combine(DataDir, "templates", name))!);

    /// <summary>The inputs of the goldens: cases and tool lists.</summary>
    public static JsonElement Conversations() =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(DataDir, "conversations.json"))).RootElement.Clone();

    /// <summary>What the reference rendered for template <paramref name="template"/>, case <paramref name="caseId"/>, with the generation prompt.</summary>
    public static string Rendered(string template, string caseId) =>
        File.ReadLines(Path.Combine(DataDir, "goldens", template + ".jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Single(g => g.GetProperty("case").GetString() == caseId && g.GetProperty("add_generation_prompt").GetBoolean())
            .GetProperty("output").GetString()!;
}
