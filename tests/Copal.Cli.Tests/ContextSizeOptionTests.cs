using Copal.Cli.Infrastructure;

namespace Copal.Cli.Tests;

/// <summary>--ctx-size against the model's context and the work's needs, at the edges: equal is enough.</summary>
public class ContextSizeOptionTests
{
    private static string TooLong(string limit) => $"the work does not fit {limit}";

    [Fact]
    public void A_context_size_equal_to_the_models_is_taken_and_one_more_is_refused()
    {
        ContextSizeOption.CheckAgainstModel(256, "--ctx-size", 256);
        var e = Assert.Throws<UsageException>(() => ContextSizeOption.CheckAgainstModel(257, "-c", 256));
        Assert.Equal("-c 257 exceeds the model's context of 256 positions (max_position_embeddings)", e.Message);
    }

    [Fact]
    public void Work_that_exactly_fits_the_context_given_or_the_models_runs_in_it()
    {
        Assert.Equal(100, ContextSizeOption.Resolve(100, needed: 100, wanted: 50, modelContext: 256, TooLong));
        Assert.Equal("the work does not fit --ctx-size 100",
            Assert.Throws<UsageException>(() => ContextSizeOption.Resolve(100, needed: 101, wanted: 50, modelContext: 256, TooLong)).Message);
        Assert.Equal(256, ContextSizeOption.Resolve(null, needed: 256, wanted: 10, modelContext: 256, TooLong));
        Assert.Throws<UsageException>(() => ContextSizeOption.Resolve(null, needed: 257, wanted: 10, modelContext: 256, TooLong));
    }

    /// <summary>Without --ctx-size the context is what the work wants (a reply's room), at least what it needs, at most the model's.</summary>
    [Fact]
    public void Without_a_context_size_the_work_gets_what_it_wants_within_the_models()
    {
        Assert.Equal(200, ContextSizeOption.Resolve(null, needed: 10, wanted: 200, modelContext: 256, TooLong));
        Assert.Equal(256, ContextSizeOption.Resolve(null, needed: 10, wanted: 1000, modelContext: 256, TooLong));
    }
}
