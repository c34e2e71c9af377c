using System.Collections;

namespace Copal.Model.Serving;

/// <summary>
/// A prompt's ids as <see cref="InferenceEngine.Prepare"/> encoded them: the engine's own array, which no caller can
/// change, so every request made from the prepared one (a request's n choices, queued together) runs it without a copy.
/// Ids a caller gives are copied, since the caller could change its list while the request waits.
/// </summary>
internal sealed class PreparedPromptIds(int[] ids) : IReadOnlyList<int>
{
    public int[] Ids { get; } = ids;

    public int this[int index] => Ids[index];

    public int Count => Ids.Length;

    public IEnumerator<int> GetEnumerator() => ((IEnumerable<int>)Ids).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => Ids.GetEnumerator();
}
