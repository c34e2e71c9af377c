namespace Copal.Tensors.Kernels;

/// <summary>
/// Work over one range of independent items, as a struct so that <see cref="RowPartition.For{TBody}"/> needs no
/// closure or delegate per call: the body's fields are the kernel's arguments.
/// </summary>
internal interface IRangeBody
{
    /// <summary>Processes items [<paramref name="start"/>, <paramref name="end"/>).</summary>
    void Run(int start, int end);
}
