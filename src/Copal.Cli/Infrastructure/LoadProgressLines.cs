using System.Diagnostics;
using Copal.Model.Inference;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// A model load's progress as lines on stderr ("copal: config: …", "copal: weights: 11 of 22 layers copied"). The
/// counts of layers copied or uploaded are shown only once the load has taken a second: a small model's load ends
/// before anyone reads them, and four lines would say nothing. Synchronous, so each line comes before the next step.
/// </summary>
internal sealed class LoadProgressLines(Stopwatch clock) : IProgress<LoadProgress>
{
    private static readonly TimeSpan Silent = TimeSpan.FromSeconds(1);

    public void Report(LoadProgress value)
    {
        if (Shows(value, clock.Elapsed))
        {
            Out.Info($"copal: {Text(value)}");
        }
    }

    /// <summary>Whether <paramref name="value"/> is shown <paramref name="elapsed"/> into the load: the layer counts from its first second on, the rest always.</summary>
    public static bool Shows(LoadProgress value, TimeSpan elapsed) =>
        value.Stage is not (LoadStage.LayersCopied or LoadStage.LayersUploaded) || elapsed >= Silent;

    /// <summary>The line for <paramref name="value"/>, without the "copal: " every line starts with.</summary>
    public static string Text(LoadProgress value) => value.Stage switch
    {
        LoadStage.Config => $"config: {value.Detail}",
        LoadStage.Weights => $"weights: {value.Detail}",
        LoadStage.LayersCopied => $"weights: {value.LayersDone} of {value.Layers} layers copied",
        LoadStage.LayersUploaded => $"weights: {value.LayersDone} of {value.Layers} layers uploaded",
        LoadStage.Sparse => $"sparse: {value.Detail}",
        _ => value.Detail,
    };
}
