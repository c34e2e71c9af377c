namespace Copal.Model.Inference;

/// <summary>What a model load has reached (<see cref="LoadProgress"/>).</summary>
public enum LoadStage
{
    /// <summary>config.json is read: <see cref="LoadProgress.Detail"/> is its summary.</summary>
    Config,

    /// <summary>The weights' files are open: <see cref="LoadProgress.Detail"/> says how many, where they are and on which backend.</summary>
    Weights,

    /// <summary><see cref="LoadProgress.LayersDone"/> of <see cref="LoadProgress.Layers"/> layers are copied into memory.</summary>
    LayersCopied,

    /// <summary><see cref="LoadProgress.LayersDone"/> of <see cref="LoadProgress.Layers"/> layers are uploaded to the device.</summary>
    LayersUploaded,

    /// <summary>The sparse weights are loaded: <see cref="LoadProgress.Detail"/> counts those loaded compact, converted and densified.</summary>
    Sparse,

    /// <summary>A note on how a weight loads (a compact format the kernels decode slowly, sparse weights densified), in <see cref="LoadProgress.Detail"/>.</summary>
    Note,
}

/// <summary>
/// A model load's progress, typed so that a front end tells its stages apart by <see cref="Stage"/>, not by their
/// text (the CLI shows the layer counts only once a load has taken a second), and words them itself.
/// </summary>
/// <param name="Stage">What the load has reached.</param>
/// <param name="Detail">The stage's description, for the stages that have one; empty for the layer counts.</param>
/// <param name="LayersDone">Layers copied or uploaded so far (<see cref="LoadStage.LayersCopied"/>, <see cref="LoadStage.LayersUploaded"/>).</param>
/// <param name="Layers">The model's layers, with <paramref name="LayersDone"/>.</param>
public readonly record struct LoadProgress(LoadStage Stage, string Detail = "", int LayersDone = 0, int Layers = 0);
