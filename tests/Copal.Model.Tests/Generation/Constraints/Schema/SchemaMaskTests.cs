using System.Text;
using System.Text.Json;
using Copal.Model.Generation.Constraints;
using Copal.Model.Generation.Constraints.Schema;
using Copal.Model.Tests.Tokenization;
using Copal.Model.Tokenization;

namespace Copal.Model.Tests.Generation.Constraints.Schema;

/// <summary>The schema's masks over real vocabularies: the trie walk against a check of every token, and masks kept per state.</summary>
public class SchemaMaskTests
{
    private const string Schema = """
        {"type":"object","properties":{"name":{"type":"string","maxLength":3},"mood":{"enum":["happy","sad",12,1]},
         "tags":{"type":"array","items":{"$ref":"#"},"maxItems":2},"n":{"type":"number"},"free":{"type":"object"}},
         "required":["name"],"additionalProperties":false}
        """;

    // States of every kind: before the object, in a key's literal, in a bounded string at and below its cap, in an
    // enum, in a number, in a nested (recursive) object, in a free object, and complete.
    public static TheoryData<string, string> States()
    {
        var data = new TheoryData<string, string>();
        string[] prefixes =
        [
            "", "{", "{\"na", "{\"name\":\"ab", "{\"name\":\"abc", "{\"name\":\"a\\u00", "{\"name\":\"\",\"mood\":\"ha",
            "{\"name\":\"\",\"mood\":1", "{\"name\":\"\",\"tags\":[{\"name\":\"x\"},", "{\"name\":\"\",\"n\":-0.5e",
            "{\"name\":\"\",\"free\":{\"a\":[1,{", "{\"name\":\"\"}",
        ];
        foreach (string name in new[] { "llama2", "stories260K" })
        {
            foreach (string prefix in prefixes)
            {
                data.Add(name, prefix);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(States))]
    public void The_trie_walk_allows_exactly_the_tokens_a_check_of_each_token_allows(string tokenizer, string prefix)
    {
        CopalTokenizer t = Tokenizers.Get(tokenizer);
        var stops = new HashSet<int> { t.EosId!.Value };
        JsonVocabulary vocabulary = JsonVocabulary.Of(t, t.VocabSize, stops);
        using JsonDocument doc = JsonDocument.Parse(Schema);
        var masks = new SchemaMasks(JsonSchemaCompiler.Compile(doc.RootElement), vocabulary.Trie);
        var state = new SchemaPrefix(masks.Schema);
        Assert.True(state.TryAdvance(Encoding.UTF8.GetBytes(prefix)), prefix);
        HashSet<int> expected = TokenByToken.Allowed(t, stops, state);
        for (int pass = 0; pass < 2; pass++)
        {
            TokenSet set = masks.Masks.Allowed(state);
            HashSet<int> listed = set.AreRefused ? [.. Enumerable.Range(0, vocabulary.Trie.TokenCount).Except(set.Ids)] : [.. set.Ids];
            Assert.True(expected.SetEquals(listed));
        }
        Assert.Equal(1, masks.Masks.Walks); // the second pass found the first's mask
        Assert.Equal(state.IsComplete, expected.Count == 0);
    }
}
