namespace Copal.Model.Tokenization;

/// <summary>
/// A tokenizer file, component or input that cannot be handled exactly. The message names the file (or input source)
/// and the component, and states what was expected and what was found.
/// </summary>
public class TokenizerException : Exception
{
    /// <summary>A tokenizer error; <paramref name="message"/> names the file or input and the component.</summary>
    public TokenizerException(string message) : base(message) { }

    /// <summary>A tokenizer error caused by <paramref name="inner"/>; <paramref name="message"/> names the file or input and the component.</summary>
    public TokenizerException(string message, Exception inner) : base(message, inner) { }
}
