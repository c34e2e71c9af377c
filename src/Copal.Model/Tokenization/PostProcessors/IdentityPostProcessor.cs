namespace Copal.Model.Tokenization.PostProcessors;

/// <summary>HF "ByteLevel" post-processor: it only trims offsets, so ids pass through unchanged.</summary>
internal sealed class IdentityPostProcessor : IPostProcessor
{
    public List<int> Process(List<int> ids) => ids;
}
