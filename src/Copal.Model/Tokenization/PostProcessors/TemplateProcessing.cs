namespace Copal.Model.Tokenization.PostProcessors;

/// <summary>
/// The single-sequence post-processing of tokenizer.json: special-token ids placed before the sequence (BOS-like)
/// and after it (EOS-like). HF "TemplateProcessing" reduces to this (its "single" template holds $A once), "ByteLevel"
/// adds nothing, and a "Sequence" nests them. Pair templates are not used by Copal.
/// </summary>
internal sealed record TemplateProcessing(int[] Prefix, int[] Suffix)
{
    public static TemplateProcessing None { get; } = new([], []);

    /// <summary>This template applied to the output of <paramref name="inner"/>.</summary>
    public TemplateProcessing Around(TemplateProcessing inner) => new([.. Prefix, .. inner.Prefix], [.. inner.Suffix, .. Suffix]);
}
