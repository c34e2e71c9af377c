using System.Text.RegularExpressions;
using Copal.Model.Tokenization;

namespace Copal.Model.Tests.Tokenization;

/// <summary>
/// The pool's promise, without the scheduler's help: encodes in flight together each hold an instance no other holds
/// (a shared one builds a runner per match whenever two meet), and an instance given back is lent again rather than a
/// new one compiled, so the pool holds as many as ever ran together. ConcurrentEncodeTests counts the bytes; whether
/// its threads meet inside a match is the scheduler's doing, which this does not depend on.
/// </summary>
public class RegexPoolTests
{
    [Fact]
    public void Renters_in_flight_together_hold_distinct_instances_and_given_back_ones_are_lent_again()
    {
        var first = new Regex(@"\w+", RegexOptions.CultureInvariant);
        var pool = new RegexPool(first, @"\w+", RegexOptions.CultureInvariant);

        Regex a = pool.Rent();
        Regex b = pool.Rent();
        Regex c = pool.Rent();

        Assert.Same(first, a);
        Assert.Equal(3, new HashSet<Regex>([a, b, c], ReferenceEqualityComparer.Instance).Count);
        Assert.Equal(["ab", "cd"], b.Matches("ab cd").Select(m => m.Value)); // the same pattern
        pool.Return(b);
        pool.Return(c);
        pool.Return(a);
        var again = new HashSet<Regex>([pool.Rent(), pool.Rent(), pool.Rent()], ReferenceEqualityComparer.Instance);
        Assert.True(again.SetEquals([a, b, c]));
    }
}
