namespace Copal.Model.Weights;

/// <summary>
/// The checkpoint cannot be stored in the format asked for (a linear that is sparse but not 2:4 under
/// <see cref="CompactFormat.NM"/>), or there is nothing to convert (compacting a model no linear of which is sparse
/// enough, densifying one that is not compact): found before anything is written.
/// </summary>
public sealed class CompactFormatException(string message) : Exception(message);
