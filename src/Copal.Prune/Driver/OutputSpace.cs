using Copal.Tensors.Safetensors;

namespace Copal.Prune.Driver;

/// <summary>
/// Something a prune writes on its output's file system besides the pruned model (its COPAL state; what
/// <see cref="PruneRequest.BeforeCommit"/> writes, as the CLI's compact copy or its copy of the state), counted with the
/// model in the free-space check made before the pruning: what it is, and its bytes given the pruned model's tensors
/// (a compact copy's, <see cref="CompactProjection"/>).
/// </summary>
internal sealed record OutputSpace(string What, Func<IReadOnlyList<TensorSpec>, long> Bytes);
