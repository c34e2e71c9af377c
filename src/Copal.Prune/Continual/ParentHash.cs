using System.Security.Cryptography;
using System.Text;
using Copal.Tensors;
using Copal.Tensors.Safetensors;

namespace Copal.Prune.Continual;

/// <summary>
/// Identifies the dense parent a continual run prunes from. SHA-256 over config.json's bytes, then, for every tensor
/// in ordinal name order, its name, dtype, shape and raw bytes. Sound (any change to the architecture or to any
/// weight changes it) and independent of sharding, header order and file metadata; it reads the weights once
/// (memory-mapped), which costs about as much as loading the model.
/// </summary>
internal static class ParentHash
{
    /// <summary>A one-line description of what is hashed, stored in the manifest.</summary>
    public const string Scheme = "sha256(config.json bytes; then per tensor in ordinal name order: name, dtype, shape, raw bytes)";

    /// <summary>The hash of the model folder <paramref name="modelDirectory"/>, lower-case hex.</summary>
    public static unsafe string Compute(string modelDirectory, CancellationToken cancellationToken = default)
    {
        string config = Path.Combine(modelDirectory, "config.json");
        if (!File.Exists(config))
        {
            throw new FileNotFoundException($"model folder '{modelDirectory}' has no config.json", config);
        }
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(File.ReadAllBytes(config));
        using SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(modelDirectory, cancellationToken: cancellationToken);
        foreach (var t in checkpoint.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            sha.AppendData(Encoding.UTF8.GetBytes($"\n{t.Name}\n{t.DType.ToSafetensorsName()}\n{string.Join(',', t.Shape)}\n"));
            const long chunk = 1L << 26;
            for (long offset = 0; offset < t.ByteLength; offset += chunk)
            {
                int n = (int)Math.Min(chunk, t.ByteLength - offset);
                sha.AppendData(new ReadOnlySpan<byte>(t.Data + offset, n));
            }
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
