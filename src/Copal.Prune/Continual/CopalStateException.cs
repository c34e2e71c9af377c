namespace Copal.Prune.Continual;

/// <summary>
/// A COPAL state cannot be used: a file is missing or malformed, its format version is unknown, it was made from a
/// different dense parent, with other options, or its shapes do not fit the model. The message names the file and
/// both the expected and the actual value.
/// </summary>
public sealed class CopalStateException(string message) : Exception(message)
{
    /// <summary>
    /// The option (as on the command line, without dashes: "mask") whose value differs from the one the state was
    /// built with, or null when the files themselves are at fault. Another value of that option (or none) runs, so
    /// the command line reports it as a usage error, as it does other options that contradict the data.
    /// </summary>
    public string? Option { get; init; }
}
