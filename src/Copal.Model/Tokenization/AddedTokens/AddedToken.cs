namespace Copal.Model.Tokenization.AddedTokens;

/// <summary>One entry of tokenizer.json "added_tokens".</summary>
internal sealed record AddedToken(int Id, string Content, bool SingleWord, bool LStrip, bool RStrip, bool Normalized, bool Special)
{
    public static AddedToken FromJson(JsonSection s)
    {
        int id = s.Int("id", -1);
        if (id < 0)
        {
            throw s.Error("added token needs a non-negative integer 'id'");
        }
        string content = s.String("content");
        if (content.Length == 0)
        {
            throw s.Error($"added token {id} has empty content");
        }
        if (id > TokenIds.Max)
        {
            throw s.Error(TokenIds.TooLarge(content, id));
        }
        return new AddedToken(id, content, s.Bool("single_word", false), s.Bool("lstrip", false), s.Bool("rstrip", false),
            s.Bool("normalized", !s.Bool("special", false)), s.Bool("special", false));
    }
}
