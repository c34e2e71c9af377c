namespace Copal.Prune.Continual;

/// <summary>
/// A COPAL state cannot be used: a file is missing or malformed, its format version is unknown, it was made from a
/// different dense parent, with other options, or its shapes do not fit the model. The message names the file and
/// both the expected and the actual value.
/// </summary>
public sealed class CopalStateException(string message) : Exception(message);
