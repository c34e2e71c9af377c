namespace Copal.Model.Weights;

/// <summary>A checkpoint that does not match its config: names the tensor, with expected and actual shape or dtype.</summary>
public sealed class ModelLoadException : Exception
{
    /// <summary>A load error; <paramref name="message"/> names the checkpoint and the tensor.</summary>
    public ModelLoadException(string message) : base(message) { }
    /// <summary>A load error caused by <paramref name="inner"/>; <paramref name="message"/> names the checkpoint and the tensor.</summary>
    public ModelLoadException(string message, Exception inner) : base(message, inner) { }

    /// <summary>
    /// The weights hold NaN or Inf (<see cref="FiniteWeights"/>): loading with <c>allowNonFinite</c> would take them.
    /// The message leaves that remedy out, so each caller words it for what it offers (the CLI names its
    /// <c>--allow-nonfinite</c> only on the commands that have it).
    /// </summary>
    public bool NonFiniteWeights { get; init; }
}
