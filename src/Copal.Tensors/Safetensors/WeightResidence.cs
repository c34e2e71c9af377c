namespace Copal.Tensors.Safetensors;

/// <summary>Where an opened checkpoint's tensor bytes live while it is open.</summary>
public enum WeightResidence
{
    /// <summary>
    /// <see cref="Memory"/> when the checkpoint's files take at most half of the memory available at open
    /// (<see cref="HostMemory.AvailableBytes()"/>), else <see cref="Mapped"/>.
    /// </summary>
    Auto,

    /// <summary>
    /// The files are memory-mapped read-only: nothing is copied, the pages are the shared page cache, and the system
    /// can reclaim them under memory pressure. The files are read for as long as the checkpoint is open: deleting them
    /// or replacing them by a rename leaves it the old contents, but a file truncated or rewritten in place changes the
    /// weights under it, and a read past a truncated file's new end ends the process (SIGBUS, which no handler can
    /// catch). Choose <see cref="Memory"/> for files that may be rewritten while they are open.
    /// </summary>
    Mapped,

    /// <summary>
    /// The files are read into this process's own memory at open. Costs the read (about 5 s for 2.2 GB on this
    /// project's machine, against 2 s to map) and the memory, which cannot be reclaimed; in return the CPU kernels
    /// stream the weights faster: there a decode step over mapped page-cache pages ran at 0.65–0.78× the speed of the
    /// same step over a private copy (docs/performance.md).
    /// </summary>
    Memory,
}
