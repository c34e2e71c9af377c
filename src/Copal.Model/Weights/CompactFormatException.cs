namespace Copal.Model.Weights;

/// <summary>
/// The checkpoint cannot be stored in the format asked for (a linear that is sparse but not 2:4 under
/// <see cref="CompactFormat.NM"/>): a choice of format the model does not allow, found before anything is written.
/// </summary>
public sealed class CompactFormatException(string message) : Exception(message);
