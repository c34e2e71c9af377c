using Copal.Model.Serving;

namespace Copal.Serving.Tests;

/// <summary>What the prefix-cache tests compare: prompts of ids no other seed's begins with, and a reply's ids and log-probabilities bit for bit.</summary>
internal static class ReplyBits
{
    /// <summary>A prompt of <paramref name="length"/> ids in stories260K's vocabulary that no other seed's begins with.</summary>
    public static int[] Prompt(int length, int seed) => [.. Enumerable.Range(0, length).Select(i => 3 + ((i * 37) + (seed * 101)) % 500)];

    /// <summary>The reply's ids and every log-probability it carries, as hex bit patterns: a logit off by one bit shows.</summary>
    public static string Of(CompletionResult r) =>
        string.Join(' ', r.TokenIds) + " | " + string.Join(' ', r.Logprobs!.SelectMany(l => l.Top.Select(t => t.Logprob).Prepend(l.Chosen.Logprob))
            .Select(p => BitConverter.SingleToInt32Bits(p).ToString("x8", System.Globalization.CultureInfo.InvariantCulture)));
}
