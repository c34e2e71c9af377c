namespace Copal.Prune;

/// <summary>
/// The calibration asked for (--nsamples × --seqlen) is more than its text can give, or would need more memory than
/// the machine has. Raised before any work; the message names the options and the numbers, and says what fits.
/// </summary>
public sealed class CalibrationLimitException : Exception
{
    /// <summary>A refusal; <paramref name="message"/> names the options, the numbers and what fits.</summary>
    public CalibrationLimitException(string message) : base(message)
    {
    }

    /// <summary>
    /// Whether other --nsamples or --seqlen values would be accepted (a usage error, exit 2 on the command line);
    /// false where no calibration fits the memory (one layer's pruning alone passes it, or the run has no forward
    /// pass to shorten), a failure of the run, not of its options.
    /// </summary>
    public bool OptionsCanHelp { get; init; } = true;
}
