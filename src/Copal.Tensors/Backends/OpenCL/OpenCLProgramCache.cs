using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Copal.Tensors.Backends.OpenCL;

/// <summary>
/// Compiled OpenCL program binaries on disk, so a device compiles the kernels once rather than at every start.
/// An entry is keyed by platform, device name, driver version, build options and the source hash, and carries a
/// checksum: a truncated or corrupt entry is deleted and rebuilt, never fatal. Write failures only lose the cache.
/// </summary>
internal sealed class OpenCLProgramCache(string directory)
{
    private static readonly byte[] s_magic = "COPALCL1"u8.ToArray();
    private const int HeaderBytes = 8 + 8 + 32;   // magic, payload length, SHA-256 of the payload

    public string Directory { get; } = directory;

    /// <summary><c>$XDG_CACHE_HOME/copal/kernels</c>, else <c>~/.cache/copal/kernels</c>.</summary>
    public static string DefaultDirectory()
    {
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string root = !string.IsNullOrEmpty(xdg)
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "copal", "kernels");
    }

    /// <summary>The cache key of one program build on one device.</summary>
    public static string Key(string platform, string device, string driverVersion, string options, string sourceHash)
    {
        string identity = string.Join('\n', platform, device, driverVersion, options, sourceHash);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity)));
    }

    public string PathOf(string key) => Path.Combine(Directory, key + ".clbin");

    /// <summary>The stored binary, or null when absent or damaged (a damaged entry is deleted and logged).</summary>
    public byte[]? TryRead(string key, Action<string>? log)
    {
        string path = PathOf(key);
        byte[] file;
        try
        {
            if (!File.Exists(path))
            {
                return null;
            }
            file = File.ReadAllBytes(path);
        }
        catch (IOException e)
        {
            log?.Invoke($"opencl: cannot read kernel cache '{path}' ({e.Message}); compiling from source");
            return null;
        }
        catch (UnauthorizedAccessException e)
        {
            log?.Invoke($"opencl: cannot read kernel cache '{path}' ({e.Message}); compiling from source");
            return null;
        }

        if (file.Length >= HeaderBytes && file.AsSpan(0, 8).SequenceEqual(s_magic))
        {
            long length = BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(8, 8));
            if (length == file.Length - HeaderBytes)
            {
                byte[] payload = file[HeaderBytes..];
                if (SHA256.HashData(payload).AsSpan().SequenceEqual(file.AsSpan(16, 32)))
                {
                    return payload;
                }
            }
        }
        log?.Invoke($"opencl: kernel cache entry '{path}' is corrupt; rebuilding it");
        Delete(key);
        return null;
    }

    /// <summary>Stores a binary atomically (write to a temporary file, then rename).</summary>
    public void Write(string key, ReadOnlySpan<byte> binary, Action<string>? log)
    {
        string path = PathOf(key);
        string temporary = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            var file = new byte[HeaderBytes + binary.Length];
            s_magic.CopyTo(file, 0);
            BinaryPrimitives.WriteInt64LittleEndian(file.AsSpan(8, 8), binary.Length);
            SHA256.HashData(binary, file.AsSpan(16, 32));
            binary.CopyTo(file.AsSpan(HeaderBytes));
            File.WriteAllBytes(temporary, file);
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log?.Invoke($"opencl: cannot write kernel cache '{path}' ({e.Message}); the next start compiles again");
            TryDeleteFile(temporary);
        }
    }

    public void Delete(string key) => TryDeleteFile(PathOf(key));

    private static void TryDeleteFile(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A stale entry that cannot be deleted is overwritten by the next successful build.
        }
    }
}
