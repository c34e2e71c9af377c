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
}
