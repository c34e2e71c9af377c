using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace Copal.Testing;

/// <summary>
/// Edits a single-file checkpoint on disk (model.safetensors), for tests that need what no writer would make: a −0,
/// a stray zero, a NaN or an Inf in a tensor; a header that lost an entry.
/// </summary>
public static class CheckpointBytes
{
    /// <summary>
    /// Reads <paramref name="dir"/>/model.safetensors, lets <paramref name="edit"/> change it given the file's bytes
    /// and the first byte of F32 tensor <paramref name="name"/>, writes it back and returns the new bytes.
    /// </summary>
    public static byte[] EditF32Tensor(string dir, string name, Action<byte[], long> edit) => EditTensor(dir, name, "F32", edit);

    /// <summary>As <see cref="EditF32Tensor"/> for a tensor of <paramref name="dtype"/> (as the header spells it: "F16").</summary>
    public static byte[] EditTensor(string dir, string name, string dtype, Action<byte[], long> edit)
    {
        ArgumentNullException.ThrowIfNull(edit);
        string file = Path.Combine(dir, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(file);
        long headerLength = BitConverter.ToInt64(bytes, 0);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        JsonElement entry = header.RootElement.GetProperty(name);
        Assert.Equal(dtype, entry.GetProperty("dtype").GetString());
        edit(bytes, 8 + headerLength + entry.GetProperty("data_offsets")[0].GetInt64());
        File.WriteAllBytes(file, bytes);
        return bytes;
    }

    /// <summary>
    /// Lets <paramref name="edit"/> change the JSON header of <paramref name="dir"/>/model.safetensors (remove an entry),
    /// and writes it back padded with spaces to its old length, as the format allows, so every tensor keeps its bytes.
    /// </summary>
    public static void EditHeader(string dir, Action<JsonObject> edit)
    {
        ArgumentNullException.ThrowIfNull(edit);
        string file = Path.Combine(dir, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(file);
        int headerLength = checked((int)BitConverter.ToInt64(bytes, 0));
        JsonObject header = JsonNode.Parse(bytes.AsSpan(8, headerLength))!.AsObject();
        edit(header);
        byte[] edited = Encoding.UTF8.GetBytes(header.ToJsonString());
        Assert.True(edited.Length <= headerLength, "the edited header must not grow");
        Array.Fill(bytes, (byte)' ', 8, headerLength);
        edited.CopyTo(bytes, 8);
        File.WriteAllBytes(file, bytes);
    }
}
