namespace Copal.Model.Inference;

/// <summary>
/// The load's progress while the weights are copied into memory or uploaded to a device: a report at each quarter of
/// the layers (<see cref="LoadStage.LayersCopied"/>, <see cref="LoadStage.LayersUploaded"/>). That copy takes seconds
/// per GB (TinyLlama's 2.2 GB took 5 to 23 s on this project's machine, a 7B model more), and the load said nothing
/// between its weights line and its end. A mapped load copies nothing and reports nothing here; four reports whatever
/// the depth keep a log short.
/// </summary>
internal sealed class WeightCopyProgress(IProgress<LoadProgress> progress, int layers, LoadStage stage) : IProgress<int>
{
    private int _nextQuarter = 1;

    /// <summary>Hears that <paramref name="layersDone"/> layers are loaded.</summary>
    public void Report(int layersDone)
    {
        if ((long)layersDone * 4 < (long)_nextQuarter * layers)
        {
            return;
        }
        while ((long)layersDone * 4 >= (long)_nextQuarter * layers && _nextQuarter <= 4)
        {
            _nextQuarter++;
        }
        progress.Report(new LoadProgress(stage, LayersDone: layersDone, Layers: layers));
    }
}
