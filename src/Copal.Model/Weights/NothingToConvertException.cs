namespace Copal.Model.Weights;

/// <summary>
/// A compact or densify whose input has nothing to convert: compacting a model no linear of which would be smaller
/// compact, densifying one that is not compact. The output would be a copy under a name that says converted, so
/// nothing is written; the message names the input. A wrong input (exit 1 in the CLI), not a wrong option.
/// </summary>
public sealed class NothingToConvertException(string message) : Exception(message);
