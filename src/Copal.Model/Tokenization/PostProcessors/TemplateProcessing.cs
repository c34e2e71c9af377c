namespace Copal.Model.Tokenization.PostProcessors;

/// <summary>
/// HF "TemplateProcessing" for a single sequence: the "single" template, e.g. [&lt;s&gt;, $A], where each special
/// token expands to its ids. Pair templates are not used by Copal.
/// </summary>
internal sealed class TemplateProcessing : IPostProcessor
{
    /// <summary>One template item: the ids of a special token, or null for the sequence $A.</summary>
    private readonly IReadOnlyList<int[]?> _single;

    public TemplateProcessing(IReadOnlyList<int[]?> single)
    {
        _single = single;
    }

    /// <summary>The ids placed before $A (BOS-like) and after it (EOS-like).</summary>
    public IEnumerable<int> Prefix => _single.TakeWhile(x => x is not null).SelectMany(x => x!);

    public IEnumerable<int> Suffix => _single.SkipWhile(x => x is not null).Skip(1).Where(x => x is not null).SelectMany(x => x!);

    public List<int> Process(List<int> ids)
    {
        var result = new List<int>(ids.Count + 4);
        foreach (int[]? item in _single)
        {
            if (item is null)
            {
                result.AddRange(ids);
            }
            else
            {
                result.AddRange(item);
            }
        }
        return result;
    }
}
