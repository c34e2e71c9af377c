namespace Copal.Cli.Serving;

/// <summary>
/// A request that ends with no client to answer (one that left before its body was whole, or was cut off after a
/// stop): counted as aborted, not as an error answered (<see cref="ErrorMiddleware"/>).
/// </summary>
internal sealed class ClientLeftException(string message, Exception inner) : Exception(message, inner);
