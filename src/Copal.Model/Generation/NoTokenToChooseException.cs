namespace Copal.Model.Generation;

/// <summary>
/// The sampler found no token it can choose: every logit −∞, or one NaN or +∞. <see cref="Option"/> names the option of
/// <see cref="SamplingOptions"/> whose step first sent a finite logit out of range (a repetition penalty of 3e38 turns
/// a seen token's negative logit into −∞), or is null when the logits came that way (all masked, or damaged).
/// </summary>
public sealed class NoTokenToChooseException(string message, string? option) : ArgumentException(message)
{
    /// <summary>The <see cref="SamplingOptions"/> property to blame (<c>nameof(SamplingOptions.RepetitionPenalty)</c>…), or null.</summary>
    public string? Option { get; } = option;
}
