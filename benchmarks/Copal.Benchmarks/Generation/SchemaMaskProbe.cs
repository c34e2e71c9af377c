using System.Diagnostics;
using System.Text.Json;
using Copal.Benchmarks.Tokenization;
using Copal.Model.Generation.Constraints;
using Copal.Model.Generation.Constraints.Schema;
using Copal.Model.Tokenization;

namespace Copal.Benchmarks.Generation;

/// <summary>
/// Structured outputs' mask cost per token against JSON mode's (`probe schema-mask`), on stories260K's 512 tokens and on
/// Llama-2's and Llama-3's vocabularies: the tokens of one reply valid under a realistic schema, masked by JSON mode and
/// by the schema, one after the other at each token, in a first reply (fresh caches: each state met is walked) and in a
/// second (the states' masks kept); seven rounds, the median. Two schemas: "plain" (five properties: a bounded string,
/// an enum, an array, an anyOf of a $ref'd object and null, a boolean) and "typed", a .NET record as System.Text.Json
/// exports it (a date-time, a uuid, an integer and a number held to ranges, a polymorphic property: a tagged union
/// under keywords beside its anyOf), where every digit of a bounded number and every byte of a format is a state, and
/// "patterned", strings held to patterns (.NET's TimeSpan and Version, Pydantic's Decimal, an e-mail-like one with a
/// maxLength, a constr with a minLength), where a string's progress is its pattern automaton's state.
/// </summary>
internal static class SchemaMaskProbe
{
    private const string Schema = """
        {"type":"object","properties":{
           "name":{"type":"string","maxLength":8},
           "mood":{"enum":["happy","sad",3]},
           "friends":{"type":"array","items":{"type":"string","maxLength":5},"maxItems":2},
           "pet":{"anyOf":[{"$ref":"#/$defs/pet"},{"type":"null"}]},
           "tall":{"type":"boolean"}},
         "required":["name","mood","friends","pet","tall"],"additionalProperties":false,
         "$defs":{"pet":{"type":"object","properties":{"kind":{"enum":["cat","dog"]}},"required":["kind"],"additionalProperties":false}}}
        """;

    // After the opening brace, which the reply starts with (a SentencePiece encoding of the whole would start "▁{").
    private const string Reply = """
        "name":"Tom","mood":"happy","friends":["Sue","Al"],"pet":{"kind":"dog"},"tall":true}
        """;

    private const string TypedSchema = """
        {"type":"object","properties":{
           "at":{"type":"string","format":"date-time"},
           "id":{"type":"string","format":"uuid"},
           "count":{"type":"integer","minimum":1,"maximum":100},
           "score":{"type":"number","minimum":0,"maximum":1},
           "shape":{"type":["object","null"],"required":["kind"],"anyOf":[
             {"properties":{"kind":{"const":"circle"},"r":{"type":"number"}},"additionalProperties":false,"required":["kind","r"]},
             {"properties":{"kind":{"const":"square"},"w":{"type":"integer"}},"additionalProperties":false,"required":["kind","w"]}]}},
         "required":["at","id","count","score","shape"],"additionalProperties":false}
        """;

    private const string TypedReply = """
        "at":"2024-05-17T09:30:00Z","id":"3f2b8c1e-9d4a-4e6b-8f1a-2c3d4e5f6a7b","count":42,"score":0.875,"shape":{"kind":"circle","r":2.5}}
        """;

    private const string PatternedSchema = """
        {"type":"object","properties":{
           "took":{"type":"string","pattern":"^-?(\\d+\\.)?\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,7})?$"},
           "version":{"type":"string","pattern":"^\\d+(\\.\\d+){1,3}$"},
           "price":{"type":"string","pattern":"^(?!^[-+.]*$)[+-]?0*\\d*\\.?\\d*$"},
           "email":{"type":"string","pattern":"^\\S+@\\S+$","maxLength":64},
           "code":{"type":"string","pattern":"^[A-Z]{3}-\\d+$","minLength":5}},
         "required":["took","version","price","email","code"],"additionalProperties":false}
        """;

    private const string PatternedReply = """
        "took":"1.02:03:04.5","version":"10.0.1","price":"12.50","email":"ann@example.org","code":"ABC-123"}
        """;

    public static void Run()
    {
        Console.WriteLine("| schema | vocabulary | reply tokens | JSON mode, first reply | schema, first reply | ratio | JSON mode, kept | schema, kept | ratio |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        foreach ((string label, string text, string reply) in new[] { ("plain", Schema, Reply), ("typed", TypedSchema, TypedReply), ("patterned", PatternedSchema, PatternedReply) })
        {
            Run(label, text, reply);
        }
    }

    private static void Run(string label, string text, string reply)
    {
        using JsonDocument schema = JsonDocument.Parse(text);
        foreach (string name in new[] { "stories260K", "llama2", "llama3" })
        {
            string dir = name == "stories260K"
                ? Path.Combine(TokenizerBenchmarks.SharedData(), "models", name)
                : Path.Combine(TokenizerBenchmarks.SharedData(), "tokenizers", name);
            CopalTokenizer t = CopalTokenizer.FromDirectory(dir);
            var stops = new HashSet<int> { t.EosId!.Value };
            JsonVocabulary vocabulary = JsonVocabulary.Of(t, t.VocabSize, stops);
            int brace = Enumerable.Range(0, t.VocabSize).First(id => t.HasToken(id) && !t.IsSpecial(id) && t.TokenBytes(id) is [(byte)'{']);
            int[] tokens = [brace, .. t.Encode(reply, addSpecialTokens: false)];
            var logits = new float[t.VocabSize];
            var rounds = new List<double[]>();
            for (int round = 0; round < 7; round++)
            {
                var sums = new double[4]; // JSON first, schema first, JSON kept, schema kept
                var jsonMasks = new JsonVocabulary(vocabulary.Trie, stops);
                var schemaMasks = new SchemaMasks(JsonSchemaCompiler.Compile(schema.RootElement), vocabulary.Trie);
                for (int pass = 0; pass < 2; pass++)
                {
                    IDecodingConstraint json = new JsonObjectConstraint(jsonMasks);
                    IDecodingConstraint structured = new SchemaConstraint(vocabulary, schemaMasks);
                    foreach (int token in tokens)
                    {
                        long a = Stopwatch.GetTimestamp();
                        json.Mask(logits);
                        long b = Stopwatch.GetTimestamp();
                        structured.Mask(logits);
                        long c = Stopwatch.GetTimestamp();
                        json.Advance(token);
                        structured.Advance(token);
                        sums[2 * pass] += b - a;
                        sums[2 * pass + 1] += c - b;
                    }
                }
                rounds.Add([.. sums.Select(s => s * 1e6 / Stopwatch.Frequency / tokens.Length)]);
            }
            double Median(int i) => rounds.Select(r => r[i]).Order().ElementAt(rounds.Count / 2);
            Console.WriteLine($"| {label} | {name} ({t.VocabSize:N0}) | {tokens.Length} | {Median(0):F1} µs | {Median(1):F1} µs | {Median(1) / Median(0):F1}× " +
                $"| {Median(2):F2} µs | {Median(3):F2} µs | {Median(3) / Median(2):F1}× |");
        }
    }
}
