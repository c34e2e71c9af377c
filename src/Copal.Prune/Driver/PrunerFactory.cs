namespace Copal.Prune.Driver;

/// <summary>Maps a method name to its pruner.</summary>
public static class PrunerFactory
{
    public static IReadOnlyList<string> Methods { get; } = ["magnitude", "wanda", "sparsegpt"];

    public static ILinearPruner Create(string method) => method.ToLowerInvariant() switch
    {
        "magnitude" => new MethodPruner(new MagnitudePruner()),
        "wanda" => new MethodPruner(new WandaPruner()),
        "sparsegpt" => new MethodPruner(new SparseGptPruner()),
        _ => throw new PruningOptionException("method", method, string.Join(", ", Methods)),
    };
}
