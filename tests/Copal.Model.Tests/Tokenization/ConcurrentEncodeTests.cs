using System.Text;
using Copal.Model.Tokenization;
using Copal.Testing;

namespace Copal.Model.Tests.Tokenization;

/// <summary>
/// A server encodes its requests' prompts on as many threads as requests arrive, with one tokenizer. The split regex
/// of a tokenizer kind is one object: .NET's Regex keeps one runner and rents it for each match, so an encode that
/// found it rented by another thread built a runner of its own for that match (about a kilobyte each, megabytes over a
/// long prompt). Each encode now has a regex of its own while it runs, and allocates no more beside others than alone.
/// Whether two encodes meet inside a match is the scheduler's doing, so the count before the fix failed only when they
/// did (often: four threads over a megabyte each); after it, no interleaving allocates a runner.
/// </summary>
[Collection(EncodeAllocationCollection.Name)]
public class ConcurrentEncodeTests
{
    private const int Threads = 4;

    /// <summary>The byte-level tokenizers, on threads that share one tokenizer or use two of the same kind (whose
    /// generated split regex is one object in the process).</summary>
    public static TheoryData<string, bool> Cases() => new() { { "gpt2", false }, { "llama3", false }, { "qwen3", false }, { "llama3", true } };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Encodes_on_several_threads_give_the_ids_of_one_and_allocate_what_one_does(string name, bool twoTokenizers)
    {
        CopalTokenizer t = Tokenizers.Get(name);
        CopalTokenizer other = twoTokenizers ? CopalTokenizer.FromDirectory(Tokenizers.Folder(name)) : t;
        // A megabyte, and past the first progress report, where the first round's encodes wait for each other.
        string text = Repeated("the cat sat on the mat, 42 times. ", EncodeWatch.ReportEveryChars + 1024);
        t.Encode(text, addSpecialTokens: false);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int[] alone = t.Encode(text, addSpecialTokens: false);
        // What one encode allocates alone (its ids), with 64 KiB for what differs between threads.
        long bound = GC.GetAllocatedBytesForCurrentThread() - before + (64 << 10);
        using var start = new Barrier(Threads);
        var allocated = new long[Threads];
        var ids = new int[Threads][];
        var heldTogether = new bool[Threads];
        Thread[] threads = [.. Enumerable.Range(0, Threads).Select(i => new Thread(() =>
        {
            CopalTokenizer mine = i % 2 == 0 ? t : other;
            // The first round builds what encodes running together build once (a regex each), and the second is
            // counted. Each first encode waits for the others at its progress report, inside the text: all of them
            // hold their regex then, whatever the scheduler did, so the second round finds one idle for each thread.
            // Left to the scheduler, a first round that met less than the second built a regex in the count (36 KB).
            bool waited = false;
            var together = new CallbackProgress<TokenizeProgress>(p =>
            {
                if (!waited)
                {
                    waited = true;
                    heldTogether[i] = p.CharsDone < p.CharsTotal;
                    start.SignalAndWait();
                }
            });
            mine.Encode(text, addSpecialTokens: false, together, CancellationToken.None);
            start.SignalAndWait();
            long before = GC.GetAllocatedBytesForCurrentThread();
            ids[i] = mine.Encode(text, addSpecialTokens: false);
            allocated[i] = GC.GetAllocatedBytesForCurrentThread() - before;
        }))];
        foreach (Thread thread in threads)
        {
            thread.Start();
        }
        foreach (Thread thread in threads)
        {
            thread.Join();
        }
        for (int i = 0; i < Threads; i++)
        {
            Assert.True(heldTogether[i], "the first round's encodes met inside the text");
            Assert.Equal(alone, ids[i]);
            Assert.InRange(allocated[i], 0, bound);
        }
    }

    private static string Repeated(string piece, int chars)
    {
        var sb = new StringBuilder(chars + piece.Length);
        while (sb.Length < chars)
        {
            sb.Append(piece);
        }
        return sb.ToString();
    }
}
