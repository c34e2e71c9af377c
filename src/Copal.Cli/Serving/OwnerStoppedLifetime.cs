using Microsoft.Extensions.Hosting;

namespace Copal.Cli.Serving;

/// <summary>
/// The server's host lifetime: it takes no signals, so whoever owns the server stops it. The default (ASP.NET Core's
/// console lifetime) stops the host on SIGTERM and Ctrl-C by itself; <c>copal serve</c> handles those signals too, and
/// when the host's handler won the race the command returned before its own had set the exit code, so a SIGTERM
/// could exit 130 rather than 143. A second signal must also end the process at once, which the console lifetime
/// prevented by cancelling every signal it saw.
/// </summary>
internal sealed class OwnerStoppedLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
