using Copal.Cli.Serving;
using Microsoft.Extensions.Time.Testing;

namespace Copal.Serving.Tests;

/// <summary>The collection after large bodies waits for a quiet second: a burst of bodies pays one, after it.</summary>
public sealed class CollectionWhenQuietTests
{
    [Fact]
    public void A_burst_of_asks_gives_one_collection_a_quiet_time_after_the_last()
    {
        var time = new FakeTimeProvider();
        int collections = 0;
        using var collection = new CollectionWhenQuiet(TimeSpan.FromSeconds(1), time, () => collections++);
        for (int body = 0; body < 5; body++)
        {
            collection.Ask();
            time.Advance(TimeSpan.FromMilliseconds(900));
        }
        Assert.Equal(0, collections);
        time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.Equal(1, collections);
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(1, collections); // nothing asked since
        collection.Ask();
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(2, collections);
    }

    [Fact]
    public void Nothing_is_collected_unless_asked_or_after_disposal()
    {
        var time = new FakeTimeProvider();
        int collections = 0;
        var collection = new CollectionWhenQuiet(TimeSpan.FromSeconds(1), time, () => collections++);
        time.Advance(TimeSpan.FromSeconds(5));
        collection.Ask();
        collection.Dispose();
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(0, collections);
    }
}
