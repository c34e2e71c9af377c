using System.Text.RegularExpressions;

namespace Copal.Model.Tokenization;

/// <summary>
/// Instances of one regex, lent one to an encode at a time. .NET's Regex keeps a single runner and rents it for each
/// match: an encode that found it rented by another thread built a runner for that match (a server encoding prompts
/// on several threads allocated several bytes per character of text beside what one encode allocates). Each encode
/// borrows an instance for all its matches instead; a second instance is compiled only when two encodes run at once,
/// so the pool holds as many as ever ran together.
/// </summary>
internal sealed class RegexPool(Regex first, string pattern, RegexOptions options)
{
    private readonly Stack<Regex> _idle = new([first]);
    private readonly Lock _lock = new();

    /// <summary>An instance no other caller holds until it is given back with <see cref="Return"/>.</summary>
    public Regex Rent()
    {
        lock (_lock)
        {
            if (_idle.TryPop(out Regex? idle))
            {
                return idle;
            }
        }
        return new Regex(pattern, options | RegexOptions.Compiled);
    }

    public void Return(Regex regex)
    {
        lock (_lock)
        {
            _idle.Push(regex);
        }
    }
}
