using System.Globalization;

namespace Copal.Model.Tokenization;

/// <summary>
/// The largest token id a tokenizer.json may give. Ids index tables sized to the largest one (id → token, and the
/// id space the model's embedding is checked against), so an id of 2^31 − 1 among 500 tokens took an array of two
/// billion entries, and one more overflowed the size to a negative number. The largest vocabularies published have
/// about 262k tokens; 2^24 leaves them sixty times over and bounds the table at 128 MiB.
/// </summary>
internal static class TokenIds
{
    public const int Max = (1 << 24) - 1;

    public static string TooLarge(string token, int id) => string.Create(CultureInfo.InvariantCulture,
        $"token \"{token}\" has id {id}; ids must lie in 0..{Max} (the largest vocabularies have about 262,144 tokens)");
}
