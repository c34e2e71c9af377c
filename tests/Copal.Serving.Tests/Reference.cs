using Copal.Model.Chat;
using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Model.Tokenization;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// What one request gives when it runs alone: <see cref="Generator"/> (prefill, then one-token decode steps), the
/// reference every batched and served result is compared with.
/// </summary>
internal static class Reference
{
    /// <summary>
    /// Greedy text of <paramref name="promptIds"/> alone, cut at the first stop text. Also checks that every greedy
    /// choice won by more than the end-to-end logits tolerance: then a batch row, whose logits differ from a one-row
    /// decode only in summation order (far below that tolerance), must choose the same token, so equality with a
    /// batched run is a property, not luck.
    /// </summary>
    public static (string Text, int[] Ids) Greedy(LlamaModel model, CopalTokenizer tokenizer, int[] promptIds, int maxTokens, IReadOnlyList<string>? stops = null,
        bool continuesPrompt = true)
    {
        var stopIds = new HashSet<int>(model.Config.EosTokenIds);
        if (tokenizer.EosId is int eos)
        {
            stopIds.Add(eos);
        }
        GenerationResult result = new Generator(model).Generate(promptIds, maxTokens, SamplingOptions.Greedy, stopIds);
        CheckMargins(model, promptIds, result.GeneratedIds);
        // A completion is what the full decode shows after the prompt (a word's leading space kept); a chat reply is
        // decoded alone.
        string text = continuesPrompt
            ? tokenizer.Decode([.. promptIds, .. result.GeneratedIds])[tokenizer.Decode(promptIds).Length..]
            : tokenizer.Decode(result.GeneratedIds.ToArray());
        return (Cut(text, stops ?? []), [.. result.GeneratedIds]);
    }

    /// <summary>The greedy reply to a conversation in the plain chat format, as a chat endpoint would give it alone.</summary>
    public static string Chat(LlamaModel model, CopalTokenizer tokenizer, IReadOnlyList<ChatTurn> turns, int maxTokens, IReadOnlyList<string>? stops = null)
    {
        ChatPrompt prompt = PlainChatFormatter.Instance.Format(turns);
        int[] ids = tokenizer.Encode(prompt.Text, prompt.AddSpecialTokens);
        return Greedy(model, tokenizer, ids, maxTokens, [.. prompt.StopTexts, .. stops ?? []], continuesPrompt: false).Text;
    }

    public static string Cut(string text, IReadOnlyList<string> stops)
    {
        int first = text.Length;
        foreach (string s in stops)
        {
            int at = text.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0)
            {
                first = Math.Min(first, at);
            }
        }
        return text[..first];
    }

    private static void CheckMargins(LlamaModel model, int[] promptIds, IReadOnlyList<int> generated)
    {
        using RunState state = model.CreateState(Math.Min(promptIds.Length, 512), promptIds.Length + generated.Count);
        model.Forward(state, promptIds, 0, LogitsMode.Last);
        for (int i = 0; i < generated.Count; i++)
        {
            Tolerances.AssertDecisive(model.ReadLogits(state), generated[i], $"greedy step {i} of a reference run (pick another prompt)");
            if (i + 1 < generated.Count)
            {
                model.Forward(state, [generated[i]], promptIds.Length + i, LogitsMode.Last);
            }
        }
    }
}
