namespace Copal.Model.Weights;

/// <summary>A checkpoint that does not match its config: names the tensor, with expected and actual shape or dtype.</summary>
public sealed class ModelLoadException : Exception
{
    public ModelLoadException(string message) : base(message) { }
    public ModelLoadException(string message, Exception inner) : base(message, inner) { }
}
