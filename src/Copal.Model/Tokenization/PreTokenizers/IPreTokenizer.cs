namespace Copal.Model.Tokenization.PreTokenizers;

/// <summary>
/// A piece of normalized text. <see cref="AtStart"/> is true when it begins at offset 0 of the original input
/// (Metaspace's prepend_scheme "first" depends on it).
/// </summary>
internal readonly record struct Piece(string Text, bool AtStart);

/// <summary>The tokenizer.json "pre_tokenizer" section: splits a piece into the words the model sees.</summary>
internal interface IPreTokenizer
{
    /// <summary>Appends the non-empty sub-pieces of <paramref name="piece"/> to <paramref name="output"/>.</summary>
    void PreTokenize(Piece piece, List<Piece> output);
}
