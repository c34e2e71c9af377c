namespace Copal.Model.Tokenization.PostProcessors;

/// <summary>Applies post-processors in order.</summary>
internal sealed class SequencePostProcessor(IReadOnlyList<IPostProcessor> steps) : IPostProcessor
{
    public IReadOnlyList<IPostProcessor> Steps => steps;

    public List<int> Process(List<int> ids)
    {
        foreach (IPostProcessor p in steps)
        {
            ids = p.Process(ids);
        }
        return ids;
    }
}
