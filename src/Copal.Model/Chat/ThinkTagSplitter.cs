namespace Copal.Model.Chat;

/// <summary>Reply text split into the model's reasoning and the answer proper.</summary>
/// <param name="Reasoning">Text inside <c>&lt;think&gt;…&lt;/think&gt;</c>.</param>
/// <param name="Content">The rest: the answer.</param>
internal readonly record struct ReplyPieces(string Reasoning, string Content)
{
    /// <summary>Neither piece has text.</summary>
    public bool IsEmpty => Reasoning.Length == 0 && Content.Length == 0;
}

/// <summary>
/// Splits a reply streamed piece by piece into reasoning and content at the <c>&lt;think&gt;</c> and <c>&lt;/think&gt;</c>
/// tags that Qwen3, QwQ and the DeepSeek-R1 family write, as vLLM's and SGLang's reasoning parsers do. The reasoning
/// starts either at the end of the prompt (a template that opens the tag for the model, as DeepSeek-R1's does) or with a
/// <c>&lt;think&gt;</c> the reply opens with; it ends at <c>&lt;/think&gt;</c>, or with the reply if the model never
/// closed it. A reply that opens with anything else is all content, unchanged. The tags themselves and the
/// whitespace right after each are left out. A tag split across pieces is held back until the next piece decides it.
/// </summary>
internal sealed class ThinkTagSplitter
{
    /// <summary>The tag that opens the reasoning.</summary>
    public const string OpenTag = "<think>";
    /// <summary>The tag that closes it.</summary>
    public const string CloseTag = "</think>";

    private enum Section
    {
        // Nothing decided yet: the reply may still open with <think>.
        Start,
        Reasoning,
        Content,
    }

    private Section _section;
    // Text whose section is not known yet: a possible tag's prefix.
    private string _held = "";
    // Whitespace right after a tag is left out, up to the section's first other character.
    private bool _trimLeading;

    /// <summary>
    /// A splitter for a reply to <paramref name="prompt"/>: already in the reasoning when the prompt ends by opening
    /// the tag (after whitespace), as DeepSeek-R1's and QwQ's templates end theirs. A tag elsewhere in the prompt, a
    /// user asking about it, opens nothing.
    /// </summary>
    public ThinkTagSplitter(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        bool opened = prompt.TrimEnd().EndsWith(OpenTag, StringComparison.Ordinal);
        _section = opened ? Section.Reasoning : Section.Start;
        _trimLeading = opened;
    }

    /// <summary>
    /// A splitter for the reply to <paramref name="request"/>, a chat's rendered prompt: as <see cref="ThinkTagSplitter(string)"/>,
    /// except in JSON mode or under a JSON schema, which hold the reply to JSON from its first token, so no reasoning can come: all of it is
    /// content, even where the template opened a think block for the model (split as after a prompt that did not).
    /// </summary>
    public static ThinkTagSplitter ForReplyTo(Serving.CompletionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return new ThinkTagSplitter(request.ResponseFormat != Serving.ResponseFormat.Text ? "" : request.Prompt!);
    }

    /// <summary>The pieces <paramref name="text"/> completes; what may still be a tag's start is held for later.</summary>
    public ReplyPieces Push(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string reasoning = "", content = "";
        string rest = _held + text;
        _held = "";
        while (rest.Length > 0)
        {
            switch (_section)
            {
                case Section.Start:
                {
                    string start = rest.TrimStart();
                    if (start.StartsWith(OpenTag, StringComparison.Ordinal))
                    {
                        _section = Section.Reasoning;
                        _trimLeading = true;
                        rest = start[OpenTag.Length..];
                    }
                    else if (OpenTag.StartsWith(start, StringComparison.Ordinal))
                    {
                        // Whitespace alone, or a prefix of the tag: not decided yet.
                        _held = rest;
                        rest = "";
                    }
                    else
                    {
                        _section = Section.Content;
                    }
                    break;
                }
                case Section.Reasoning:
                {
                    if (_trimLeading)
                    {
                        rest = rest.TrimStart();
                        _trimLeading = rest.Length == 0;
                        if (rest.Length == 0)
                        {
                            break;
                        }
                    }
                    int close = rest.IndexOf(CloseTag, StringComparison.Ordinal);
                    if (close >= 0)
                    {
                        reasoning += rest[..close];
                        rest = rest[(close + CloseTag.Length)..];
                        _section = Section.Content;
                        _trimLeading = true;
                        break;
                    }
                    int keep = PartialTagLength(rest, CloseTag);
                    reasoning += rest[..^keep];
                    _held = rest[^keep..];
                    rest = "";
                    break;
                }
                default:
                {
                    if (_trimLeading)
                    {
                        rest = rest.TrimStart();
                        _trimLeading = rest.Length == 0;
                    }
                    content += rest;
                    rest = "";
                    break;
                }
            }
        }
        return new ReplyPieces(reasoning, content);
    }

    /// <summary>At the reply's end: what was held back, in the section it was in (a tag never finished is text).</summary>
    public ReplyPieces Flush()
    {
        string held = _held;
        _held = "";
        if (_section == Section.Reasoning)
        {
            return new ReplyPieces(_trimLeading ? held.TrimStart() : held, "");
        }
        return new ReplyPieces("", held);
    }

    /// <summary>The length of the longest end of <paramref name="text"/> that begins <paramref name="tag"/> (0 if none).</summary>
    private static int PartialTagLength(string text, string tag)
    {
        for (int n = Math.Min(tag.Length - 1, text.Length); n > 0; n--)
        {
            if (text.AsSpan(text.Length - n).SequenceEqual(tag.AsSpan(0, n)))
            {
                return n;
            }
        }
        return 0;
    }
}
