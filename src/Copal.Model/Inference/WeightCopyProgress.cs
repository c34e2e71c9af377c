namespace Copal.Model.Inference;

/// <summary>
/// The load's progress while the weights are copied into memory or uploaded to a device: a line at each quarter of the
/// layers, "weights: 11 of 22 layers copied". That copy takes seconds per GB (TinyLlama's 2.2 GB took 5 to 23 s on
/// this project's machine, a 7B model more), and the load said nothing between its weights line and its end. A mapped
/// load copies nothing and reports nothing here; four lines whatever the depth keep a log short.
/// </summary>
public sealed class WeightCopyProgress : IProgress<int>
{
    private const string Prefix = "weights: ";
    private const string Suffix = " layers ";
    private readonly IProgress<string> _progress;
    private readonly int _layers;
    private readonly string _verb;
    private int _nextQuarter = 1;

    internal WeightCopyProgress(IProgress<string> progress, int layers, string verb)
    {
        _progress = progress;
        _layers = layers;
        _verb = verb;
    }

    /// <summary>
    /// Whether <paramref name="message"/>, heard from the load's progress, is one of these counts: a front end may hold
    /// them back while a load is quick (the CLI shows them once it has taken a second), as they say nothing then.
    /// </summary>
    public static bool Describes(string message) =>
        message is not null && message.StartsWith(Prefix, StringComparison.Ordinal) && message.Contains(Suffix, StringComparison.Ordinal);

    /// <summary>Hears that <paramref name="layersDone"/> layers are loaded.</summary>
    public void Report(int layersDone)
    {
        if ((long)layersDone * 4 < (long)_nextQuarter * _layers)
        {
            return;
        }
        while ((long)layersDone * 4 >= (long)_nextQuarter * _layers && _nextQuarter <= 4)
        {
            _nextQuarter++;
        }
        _progress.Report($"{Prefix}{layersDone} of {_layers}{Suffix}{_verb}");
    }
}
