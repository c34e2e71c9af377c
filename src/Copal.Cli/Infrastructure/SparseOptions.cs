using System.CommandLine;
using Copal.Model.Weights;
using Copal.Tensors.Sparse;

namespace Copal.Cli.Infrastructure;

/// <summary>The options of the sparse commands and of <c>--sparse</c> on the commands that run a model.</summary>
internal static class SparseOptions
{
    public static Option<string> LoadMode() => new Option<string>("--sparse")
    {
        Description = "Sparse linears: auto (compact weights run on the sparse kernels; on the CPU, dense ones sparse enough to gain are converted at load), off (all dense), force (all sparse)",
        DefaultValueFactory = _ => "auto",
    }.OneOf("auto", "off", "force");

    public static Option<string> Format() => new Option<string>("--format")
    {
        Description = "auto (2:4 where valid, else bitmask), nm (2:4 only: a sparse linear that is not 2:4 is refused) or bitmask",
        DefaultValueFactory = _ => "auto",
    }.Accept(v => v.Trim().ToLowerInvariant() is "auto" or "nm" or "2:4" or "bitmask" ? null : "auto, nm or bitmask");

    public static SparseLoadMode ParseLoadMode(string value) => value.ToLowerInvariant() switch
    {
        "auto" => SparseLoadMode.Auto,
        "off" => SparseLoadMode.Off,
        "force" => SparseLoadMode.Force,
        _ => throw new UsageException($"--sparse must be auto, off or force, got '{value}'"),
    };

    public static CompactFormat ParseFormat(string value) => value.ToLowerInvariant() switch
    {
        "auto" => CompactFormat.Auto,
        "nm" or "2:4" => CompactFormat.NM,
        "bitmask" => CompactFormat.Bitmask,
        _ => throw new UsageException($"--format must be auto, nm or bitmask, got '{value}'"),
    };
}
