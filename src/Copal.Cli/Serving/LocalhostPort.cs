using System.Net;
using System.Net.Sockets;

namespace Copal.Cli.Serving;

/// <summary>
/// A free port for a server on localhost: Kestrel refuses localhost with port 0, since each loopback would get its own
/// free port.
/// </summary>
internal static class LocalhostPort
{
    /// <summary>A port free on 127.0.0.1 and, where the machine has an IPv6 loopback, on [::1] as well.</summary>
    public static int Free()
    {
        for (int attempt = 1; ; attempt++)
        {
            using var v4 = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            v4.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            int port = ((IPEndPoint)v4.LocalEndPoint!).Port;
            if (!Socket.OSSupportsIPv6)
            {
                return port;
            }
            try
            {
                using var v6 = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
                v6.Bind(new IPEndPoint(IPAddress.IPv6Loopback, port));
                return port;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse && attempt < 20)
            {
                // Free on IPv4 only: try another.
            }
            catch (SocketException)
            {
                // No IPv6 loopback here (Kestrel then listens on IPv4 alone, as for a fixed port), or no port free on
                // both after many tries (Kestrel's bind then fails and says so).
                return port;
            }
        }
    }
}
