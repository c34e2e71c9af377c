using System.Text.Json;
using Copal.Model.Generation.Constraints;
using Copal.Model.Generation.Constraints.Schema;

namespace Copal.Model.Tests.Generation.Constraints.Schema;

/// <summary>
/// The engine's cache of compiled schemas under concurrent requests: a schema many clients send at once is built once
/// (a pattern may take a second to compile), and a refused one is refused to each of them without being kept.
/// </summary>
public class SchemaCacheTests
{
    private const int Callers = 8;

    private static readonly TokenTrie Trie = new([null, "{"u8.ToArray(), "}"u8.ToArray(), "\""u8.ToArray(), "a"u8.ToArray(), ":"u8.ToArray()]);

    private static JsonElement Parse(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Fact]
    public void A_schema_sent_by_many_callers_at_once_is_built_once_and_shared()
    {
        var cache = new SchemaCache();
        JsonElement schema = Parse("""{"type":"object","properties":{"a":{"type":"string","pattern":"^a+$"}},"required":["a"]}""");
        int builds = 0;
        using var release = new ManualResetEventSlim();
        // The trie is asked for once per build, after the compile: each build that gets there waits until every caller
        // has either begun a build of its own or is waiting for another's, so every caller is inside Get together.
        TokenTrie BuildTrie()
        {
            Interlocked.Increment(ref builds);
            release.Wait();
            return Trie;
        }
        var results = new SchemaMasks?[Callers];
        Thread[] callers = [.. Enumerable.Range(0, Callers).Select(i => new Thread(() => results[i] = cache.Get(schema, BuildTrie)))];
        foreach (Thread t in callers)
        {
            t.Start();
        }
        // Every caller blocked: one per build in BuildTrie, the others waiting on a build (a bounded wait, not a timing assertion).
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!(Volatile.Read(ref builds) == Callers || (Volatile.Read(ref builds) >= 1 && callers.All(t => (t.ThreadState & ThreadState.WaitSleepJoin) != 0))))
        {
            Assert.True(waited.Elapsed < TimeSpan.FromMinutes(1), $"the callers never all reached the cache ({builds} builds)");
            Thread.Sleep(1);
        }
        release.Set();
        foreach (Thread t in callers)
        {
            t.Join();
        }
        Assert.Equal(1, builds);
        Assert.All(results, r => Assert.Same(results[0], r));
        // And a later caller finds it.
        Assert.Same(results[0], cache.Get(schema, () => throw new InvalidOperationException("built again")));
    }

    [Fact]
    public void A_refused_schema_is_refused_to_every_caller_and_not_kept()
    {
        var cache = new SchemaCache();
        // A backreference: refused by the compiler, naming pattern.
        JsonElement schema = Parse("""{"type":"object","properties":{"a":{"type":"string","pattern":"(a)\\1"}}}""");
        for (int i = 0; i < 2; i++)
        {
            SchemaNotSupportedException e = Assert.Throws<SchemaNotSupportedException>(() => cache.Get(schema, () => Trie));
            Assert.Contains("pattern", e.Message);
        }
        // A good schema after it is built and kept as usual.
        JsonElement good = Parse("""{"type":"object"}""");
        SchemaMasks masks = cache.Get(good, () => Trie);
        Assert.Same(masks, cache.Get(good, () => throw new InvalidOperationException("built again")));
    }
}
