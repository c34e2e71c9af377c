using Copal.Prune.Continual;

namespace Copal.Prune.Driver;

/// <summary>Maps a method name to its pruner.</summary>
public static class PrunerFactory
{
    /// <summary>The method names <see cref="Create"/> takes: magnitude, wanda, sparsegpt, copal.</summary>
    public static IReadOnlyList<string> Methods { get; } = ["magnitude", "wanda", "sparsegpt", "copal"];

    /// <summary>The pruner for <paramref name="method"/>; COPAL needs its continual <paramref name="copalState"/> (new or resumed).</summary>
    public static ILinearPruner Create(string method, CopalState? copalState = null, Action<string>? notice = null) =>
        (method ?? throw new ArgumentNullException(nameof(method), $"no pruning method; expected one of {string.Join(", ", Methods)}")).ToLowerInvariant() switch
    {
        "magnitude" => new MethodPruner(new MagnitudePruner()),
        "wanda" => new MethodPruner(new WandaPruner()),
        "sparsegpt" => new MethodPruner(new SparseGptPruner()),
        "copal" => new CopalPruner(copalState ?? throw new PruningOptionException("method", method, "a COPAL state (start one with CopalRun.StartOrResume)"), notice),
        _ => throw new PruningOptionException("method", method, string.Join(", ", Methods)),
    };
}
