namespace Copal.Model.Weights;

/// <summary>
/// The checkpoint cannot be stored in the format asked for (a linear that is sparse but not 2:4 under
/// <see cref="CompactFormat.NM"/>), or in any (a linear in a dtype the formats do not hold), found before anything
/// is written.
/// </summary>
public sealed class CompactFormatException(string message) : Exception(message)
{
    /// <summary>
    /// The option (as on the command line: "--format") whose value the model does not allow, where another value
    /// runs; null where no format holds the model, so the command line reports a failure of the input, not a usage error.
    /// </summary>
    public string? Option { get; init; }
}
