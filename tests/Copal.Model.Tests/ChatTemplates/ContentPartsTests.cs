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
    public void Loops_with_a_condition_over_the_messages_and_over_the_parts_count_too()
    {
        var template = new ChatTemplate(
            "{% for m in messages if m.role != 'system' %}{% for c in m.content if c.type == 'text' %}<{{ c.text }}>{% endfor %}{% endfor %}");
        Assert.True(template.ReadsContentAsParts());
        Assert.Equal("<How do I bake bread?><With flour.>",
            template.Render([new("system", "Be brief."), .. s_conversation], addGenerationPrompt: false));
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
    /// Gemma 3's template takes both shapes (it tests <c>is string</c> before its loop over the parts): it is handed the
    /// string, as the reference's renders were made, and writes the same text.
    /// </summary>
    [Fact]
    public void Gemma_3s_template_tests_for_a_string_and_gets_the_string()
    {
        ChatTemplate gemma = ChatTemplate.FromDirectory(ChatTemplateGoldens.TemplateDir("gemma3"))!;
        Assert.False(gemma.ReadsContentAsParts());
        Assert.Equal("<bos><start_of_turn>user\nHow do I bake bread?<end_of_turn>\n<start_of_turn>model\nWith flour.<end_of_turn>\n<start_of_turn>model\n",
            gemma.Render(s_conversation, addGenerationPrompt: true));
        Assert.False(new ChatTemplate("{% if messages[0]['content'] is string %}s{% endif %}").ReadsContentAsParts());
    }

    /// <summary>
    /// Pixtral's template (and Llama 4's, Mistral's, Llama 3.2 Vision's) loops over a user's parts only when the content
    /// is not a string, and writes an assistant's or the system's content with <c>+</c>: handed parts, that <c>+</c> of
    /// a list and a string failed the whole conversation. A template that tests for a string takes one.
    /// </summary>
    [Fact]
    public void A_template_that_tests_for_a_string_before_its_loop_gets_strings()
    {
        var pixtral = new ChatTemplate(
            "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}{%- set loop_messages = messages[1:] %}"
            + "{%- else %}{%- set loop_messages = messages %}{%- endif %}"
            + "{%- for message in loop_messages %}{%- if message['role'] == 'user' %}"
            + "{%- if loop.last and system_message is defined %}{{- '[INST]' + system_message + '\\n\\n' }}{%- else %}{{- '[INST]' }}{%- endif %}"
            + "{%- if message['content'] is not string %}{%- for chunk in message['content'] %}{%- if chunk['type'] == 'text' %}{{- chunk['text'] }}{%- endif %}{%- endfor %}"
            + "{%- else %}{{- message['content'] }}{%- endif %}{{- '[/INST]' }}"
            + "{%- elif message['role'] == 'assistant' %}{{- message['content'] + '</s>' }}{%- endif %}{%- endfor %}");
        Assert.False(pixtral.ReadsContentAsParts());
        Assert.Equal("[INST]Hi[/INST]Hello.</s>[INST]Be brief.\n\nHow do I bake bread?[/INST]",
            pixtral.Render([new("system", "Be brief."), new("user", "Hi"), new("assistant", "Hello."), new("user", "How do I bake bread?")], addGenerationPrompt: true));
    }

    /// <summary>A loop over another object's content (a tool's, a document's) says nothing of how a message's is read.</summary>
    [Fact]
    public void A_loop_over_the_content_of_something_other_than_a_message_does_not_count()
    {
        Assert.False(new ChatTemplate("{% for d in documents %}{% for line in d.content %}{{ line }}{% endfor %}{% endfor %}"
            + "{% for m in messages %}{{ m.content }}{% endfor %}").ReadsContentAsParts());
        Assert.False(new ChatTemplate("{% for t in tools %}{% for c in t['content'] %}{{ c }}{% endfor %}{% endfor %}").ReadsContentAsParts());
    }

    /// <summary>The messages reach the loop under other names: a slice set aside, or one message by its index.</summary>
    [Fact]
    public void A_loop_over_the_content_of_messages_by_another_name_counts()
    {
        Assert.True(new ChatTemplate("{% set loop_messages = messages[1:] %}{% for message in loop_messages %}{% for p in message.content %}{{ p.text }}{% endfor %}{% endfor %}")
            .ReadsContentAsParts());
        Assert.True(new ChatTemplate("{% for p in messages[0]['content'] | selectattr('type', 'equalto', 'text') %}{{ p.text }}{% endfor %}").ReadsContentAsParts());
        Assert.True(new ChatTemplate("{% set last = messages[-1] %}{% for p in last.content %}{{ p.text }}{% endfor %}").ReadsContentAsParts());
    }
}
