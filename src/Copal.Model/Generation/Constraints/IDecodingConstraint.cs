namespace Copal.Model.Generation.Constraints;

/// <summary>What the scheduler asks of a sequence's constraint (JSON mode, a JSON schema): mask a row, take the chosen token.</summary>
internal interface IDecodingConstraint
{
    /// <summary>response_format's type, as the errors of a reply that cannot go on name it.</summary>
    string FormatName { get; }

    /// <summary>The reply is whole: it ends here.</summary>
    bool IsComplete { get; }

    /// <summary>Sets every logit that may not come next to −∞ and returns how many tokens may; 0 when none can.</summary>
    int Mask(Span<float> logits);

    /// <summary>Takes the bytes of <paramref name="token"/>, one <see cref="Mask"/> allowed.</summary>
    void Advance(int token);

    /// <summary>Why no token could follow (when <see cref="Mask"/> returned 0).</summary>
    string DeadEnd();
}
