using Copal.Model.Generation.Constraints;
using Copal.Model.Tests.Tokenization;
using Copal.Model.Tokenization;

namespace Copal.Model.Tests.Generation.Constraints;

/// <summary>
/// A constraint is made per request (JSON mode, a schema), and where few tokens may come next its mask keeps their
/// logits aside while it sets the rest to −∞. Each constraint grew a buffer of its own for them, as large as the
/// longest such list its request met (up to half the vocabulary: 300 KB on a 152k vocabulary, on the large-object
/// heap), as each request's sampler did; the buffer is now borrowed for the call.
/// </summary>
public class ConstraintMemoryTests
{
    [Fact]
    public void A_requests_masks_allocate_far_less_than_the_tokens_they_keep()
    {
        CopalTokenizer t = Tokenizers.Get("llama3");
        JsonVocabulary vocabulary = JsonVocabulary.Of(t, t.VocabSize, new HashSet<int> { t.EosId!.Value });
        // After a key's colon every value's first token may come: thousands of tokens, kept aside.
        int[] reply = t.Encode("{\"key\":", addSpecialTokens: false);
        var logits = new float[t.VocabSize];
        int mostKept = Masks(vocabulary, reply, logits); // makes the states' lists, which the vocabulary keeps
        Assert.True(mostKept >= 1024, $"{mostKept} tokens kept at most");

        const int Requests = 8;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int request = 0; request < Requests; request++)
        {
            Masks(vocabulary, reply, logits);
        }
        long perRequest = (GC.GetAllocatedBytesForCurrentThread() - before) / Requests;

        // The constraint and its masks' bookkeeping (a few hundred bytes, more before the methods are optimized),
        // not a buffer of the kept logits (4 bytes each).
        Assert.True(perRequest < mostKept, $"{perRequest} bytes a request, {mostKept} tokens kept at most");
    }

    // A request's masks over `reply` (each token then taken); returns the most tokens one mask kept.
    private static int Masks(JsonVocabulary vocabulary, int[] reply, float[] logits)
    {
        var constraint = new JsonObjectConstraint(vocabulary);
        int most = 0;
        foreach (int token in reply)
        {
            logits.AsSpan().Clear();
            int allowed = constraint.Mask(logits);
            most = allowed <= logits.Length / 2 ? Math.Max(most, allowed) : most;
            constraint.Advance(token);
        }
        logits.AsSpan().Clear();
        int last = constraint.Mask(logits);
        return last <= logits.Length / 2 ? Math.Max(most, last) : most;
    }
}
