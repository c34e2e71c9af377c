using System.Text.Json;
using Xunit;

namespace Copal.Testing;

/// <summary>
/// Edits the bytes of one F32 tensor in a single-file checkpoint on disk (model.safetensors), for tests that need a
/// weight no writer would make: a −0, a stray zero, a NaN row.
/// </summary>
public static class CheckpointBytes
{
    /// <summary>
    /// Reads <paramref name="dir"/>/model.safetensors, lets <paramref name="edit"/> change it given the file's bytes
    /// and the first byte of F32 tensor <paramref name="name"/>, writes it back and returns the new bytes.
    /// </summary>
    public static byte[] EditF32Tensor(string dir, string name, Action<byte[], long> edit)
    {
        ArgumentNullException.ThrowIfNull(edit);
        string file = Path.Combine(dir, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(file);
        long headerLength = BitConverter.ToInt64(bytes, 0);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        JsonElement entry = header.RootElement.GetProperty(name);
        Assert.Equal("F32", entry.GetProperty("dtype").GetString());
        edit(bytes, 8 + headerLength + entry.GetProperty("data_offsets")[0].GetInt64());
        File.WriteAllBytes(file, bytes);
        return bytes;
    }
}
