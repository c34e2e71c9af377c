namespace Copal.Model.ChatTemplates;

/// <summary>
/// A chat template that cannot be rendered exactly: a syntax error, a construct outside the supported subset, or an
/// operation the reference implementation refuses too. The message names the construct and its line and column in the
/// template (counted in the template text as stored in tokenizer_config.json, both from 1).
/// </summary>
public class ChatTemplateException : Exception
{
    /// <summary>A template error; <paramref name="message"/> names the construct and its line and column.</summary>
    public ChatTemplateException(string message) : base(message) { }

    /// <summary>A template error caused by <paramref name="inner"/>; <paramref name="message"/> names the construct and its line and column.</summary>
    public ChatTemplateException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// The template itself called <c>raise_exception(message)</c>, as templates do to reject a conversation they cannot
/// format (e.g. roles that do not alternate). <see cref="TemplateMessage"/> is the template's own text.
/// </summary>
public sealed class ChatTemplateRaisedException : ChatTemplateException
{
    /// <summary>The template raised <paramref name="templateMessage"/> at <paramref name="where"/> (its line and column).</summary>
    public ChatTemplateRaisedException(string templateMessage, string where)
        : base($"chat template {where}: raise_exception(\"{templateMessage}\")") => TemplateMessage = templateMessage;

    /// <summary>The text the template passed to raise_exception, as it wrote it.</summary>
    public string TemplateMessage { get; }
}
