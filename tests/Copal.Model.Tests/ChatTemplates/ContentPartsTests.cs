using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// A template that loops over a message's content (Llama Guard 3, the vision models) is handed each message's text as
/// one OpenAI text part; a template that writes content as a string gets the string, as before.
/// </summary>
public sealed class ContentPartsTests
{
    private static readonly ChatTemplateMessage[] s_conversation = [new("user", "How do I bake bread?"), new("assistant", "With flour.")];

    [Fact]
    public void A_loop_over_the_text_parts_as_Llama_Guard_3_writes_it_gets_every_message()
    {
        // Llama Guard 3's conversation block, in short: a message's text parts selected by type. Handed a string, the
        // loop walked its characters, found no part and wrote nothing: an empty conversation to judge.
        var template = new ChatTemplate(
            "{%- for message in messages -%}{%- set role = 'User' if message['role'] == 'user' else 'Agent' -%}"
            + "{%- for content in message['content'] | selectattr('type', 'equalto', 'text') -%}"
            + "{{- role + ': ' + content['text'] | trim + '\\n\\n' -}}{%- endfor -%}{%- endfor -%}");
        Assert.True(template.ReadsContentAsParts());
        Assert.Equal("User: How do I bake bread?\n\nAgent: With flour.\n\n", template.Render(s_conversation, addGenerationPrompt: false));
    }

    [Fact]
    public void A_loop_over_a_variable_set_from_the_content_counts_too()
    {
        var template = new ChatTemplate(
            "{% for m in messages %}{% set parts = m.content %}{% for p in parts %}[{{ p.type }}:{{ p.text }}]{% endfor %}{% endfor %}");
        Assert.True(template.ReadsContentAsParts());
        Assert.Equal("[text:How do I bake bread?][text:With flour.]", template.Render(s_conversation, addGenerationPrompt: false));
    }

    [Fact]
    public void Content_written_as_a_string_stays_a_string_and_none_stays_none()
    {
        var template = new ChatTemplate("{% for m in messages %}{{ m.role }}={{ m.content }}{% if m.content is none %}(none){% endif %};{% endfor %}");
        Assert.False(template.ReadsContentAsParts());
        Assert.Equal("user=How do I bake bread?;assistant=(none);",
            template.Render([new("user", "How do I bake bread?"), new("assistant", null)], addGenerationPrompt: false));
        var parts = new ChatTemplate("{% for m in messages %}{% if m.content is none %}(none){% else %}{% for p in m.content %}{{ p.text }}{% endfor %}{% endif %};{% endfor %}");
        Assert.Equal("How do I bake bread?;(none);", parts.Render([new("user", "How do I bake bread?"), new("assistant", null)], addGenerationPrompt: false));
    }

    /// <summary>
    /// Gemma 3's template takes both shapes (a string, or a list it loops over): handed parts, it writes what the
    /// reference's renders of strings show (its goldens pass either way); a template that only tests the shape does not count.
    /// </summary>
    [Fact]
    public void Gemma_3s_template_reads_parts_and_writes_the_same_text()
    {
        ChatTemplate gemma = ChatTemplate.FromDirectory(ChatTemplateGoldens.TemplateDir("gemma3"))!;
        Assert.True(gemma.ReadsContentAsParts());
        Assert.Equal("<bos><start_of_turn>user\nHow do I bake bread?<end_of_turn>\n<start_of_turn>model\nWith flour.<end_of_turn>\n<start_of_turn>model\n",
            gemma.Render(s_conversation, addGenerationPrompt: true));
        Assert.False(new ChatTemplate("{% if messages[0]['content'] is string %}s{% endif %}").ReadsContentAsParts());
    }
}
