using System.Diagnostics;
using Copal.Benchmarks.Tokenization;
using Copal.Model.Generation.Constraints;
using Copal.Model.Tokenization;

namespace Copal.Benchmarks.Generation;

/// <summary>
/// JSON mode's cost per token (`probe json-mask`) on a 32k (Llama-2) and a 128k (Llama-3) vocabulary, at every token of
/// a JSON reply as the tokenizer writes it, one thread, best of 5 passes per token: the trie walk alone (what a state
/// met for the first time costs), and the whole mask (the walk or the kept mask, and the −∞ over a row of logits) in a
/// first reply and once every state's mask is kept. Also the one-time build of the trie.
/// </summary>
internal static class JsonMaskProbe
{
    // A reply of the kinds of tokens JSON mode meets: keys, prose in strings, numbers, literals, nesting, escapes, UTF-8.
    private const string Reply = """
        {"name": "Ada Lovelace", "born": 1815, "ratio": -0.75e-3, "tags": ["math", "poetry", "engines"],
         "alive": false, "spouse": null, "bio": "She wrote the first program for Babbage's Analytical Engine, and saw that it could do more than arithmetic: \"it might compose elaborate pieces of music\".",
         "places": [{"city": "London", "years": [1815, 1852]}, {"city": "Ockham", "note": "caf\u00e9 \u2014 Zürich 東京"}]}
        """;

    public static void Run()
    {
        Console.WriteLine("| vocabulary | trie nodes | build | reply tokens | walk per token, mean / max | mask, first reply | mask, states kept |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (string name in new[] { "llama2", "llama3" })
        {
            CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(Path.Combine(TokenizerBenchmarks.SharedData(), "tokenizers", name));
            var stops = new HashSet<int> { tokenizer.EosId!.Value };
            var clock = Stopwatch.StartNew();
            JsonVocabulary vocabulary = JsonVocabulary.Of(tokenizer, tokenizer.VocabSize, stops);
            double build = clock.Elapsed.TotalMilliseconds;
            // JSON mode's reply starts with the brace itself: a SentencePiece encoding of the text would start "▁{".
            int[] reply = [tokenizer.TokenToId("{")!.Value, .. tokenizer.Encode(Reply[1..], addSpecialTokens: false)];
            float[] logits = new float[tokenizer.VocabSize];
            int[] allowed = new int[vocabulary.Trie.TokenCount];
            double[] walk = Best(reply, (state, _) => vocabulary.Trie.Allowed(state, allowed));
            double[] first = Best(reply, (_, json) => Mask(json, logits), fresh: () => new JsonVocabulary(vocabulary.Trie, stops));
            double[] kept = Best(reply, (_, json) => Mask(json, logits), fresh: () => vocabulary);
            Console.WriteLine($"| {name} ({tokenizer.VocabSize:N0}) | {vocabulary.Trie.NodeCount:N0} | {build:F0} ms | {reply.Length} | {walk.Average():F3} / {walk.Max():F3} ms " +
                $"| {first.Average():F3} / {first.Max():F3} ms | {kept.Average():F3} / {kept.Max():F3} ms |");

            double[] Best(int[] tokens, Action<JsonPrefix, JsonObjectConstraint> step, Func<JsonVocabulary>? fresh = null)
            {
                double[] best = Enumerable.Repeat(double.MaxValue, tokens.Length).ToArray();
                for (int pass = 0; pass < 5; pass++)
                {
                    var state = new JsonPrefix();
                    var json = new JsonObjectConstraint(fresh?.Invoke() ?? vocabulary);
                    for (int i = 0; i < tokens.Length; i++)
                    {
                        Array.Clear(logits); // a step's fresh logits
                        long start = Stopwatch.GetTimestamp();
                        step(state, json);
                        best[i] = Math.Min(best[i], Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                        if (!state.TryAdvance(vocabulary.Trie.Bytes(tokens[i])))
                        {
                            throw new InvalidOperationException($"{name}: token {i} ({tokenizer.IdToToken(tokens[i])}) of the reply is refused");
                        }
                        json.Advance(tokens[i]);
                    }
                }
                return best;
            }
        }
    }

    private static void Mask(JsonObjectConstraint json, float[] logits)
    {
        if (json.Mask(logits) == 0)
        {
            throw new InvalidOperationException("no token allowed");
        }
    }
}
