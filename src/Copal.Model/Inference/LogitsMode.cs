namespace Copal.Model.Inference;

/// <summary>Which rows of logits a forward call computes.</summary>
public enum LogitsMode
{
    /// <summary>No logits (prefill that only fills the KV cache, or calibration).</summary>
    None,
    /// <summary>Only the last row's (generation).</summary>
    Last,
    /// <summary>Every row's (perplexity, comparisons).</summary>
    All,
}
