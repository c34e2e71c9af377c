namespace Copal.Model.Tokenization;

/// <summary>Progress of encoding a long text: how far into it the tokenizer has come.</summary>
/// <param name="CharsDone">Characters of the text encoded so far (UTF-16 code units, as the text's length counts).</param>
/// <param name="CharsTotal">Characters in the whole text.</param>
public readonly record struct TokenizeProgress(long CharsDone, long CharsTotal);
