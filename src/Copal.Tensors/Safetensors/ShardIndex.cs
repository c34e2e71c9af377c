using System.Text.Json;
using Copal.Tensors.IO;

namespace Copal.Tensors.Safetensors;

/// <summary>
/// Reads a Hugging Face sharded-checkpoint index (<c>model.safetensors.index.json</c>):
/// <c>{"metadata": {...}, "weight_map": {"tensor name": "shard file name", ...}}</c>.
/// </summary>
internal static class ShardIndex
{
    /// <summary>
    /// The largest index read, as the header of a safetensors file is bounded (<see cref="SafetensorsHeader.MaxHeaderBytes"/>):
    /// an index holds a line per tensor, so the largest published ones are a few megabytes.
    /// </summary>
    public const long MaxBytes = 100_000_000;

    /// <summary>The tensor→shard map in file order; shard names are checked to be plain file names in the index's folder.</summary>
    public static List<KeyValuePair<string, string>> ReadWeightMap(string indexPath)
    {
        byte[] bytes;
        try
        {
            bytes = IO.BoundedFile.ReadAllBytes(indexPath, MaxBytes, $"a {SafetensorsCheckpoint.IndexFileName}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SafetensorsException(indexPath, $"cannot read the shard index: {IO.ReadFailure.Reason(e)}", null, e);
        }
        try
        {
            return Parse(bytes, indexPath);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new SafetensorsException(indexPath, $"shard index is not valid JSON{(e is JsonException j ? " " + JsonProblem.At(j) : $": {e.Message}")}", null, e);
        }
    }

    private static List<KeyValuePair<string, string>> Parse(byte[] bytes, string indexPath)
    {
        var reader = new Utf8JsonReader(bytes);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw new SafetensorsException(indexPath, "shard index is not a JSON object");
        }
        List<KeyValuePair<string, string>>? map = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string key = reader.GetString()!;
            reader.Read();
            if (key != "weight_map")
            {
                reader.Skip();
                continue;
            }
            if (map is not null)
            {
                throw new SafetensorsException(indexPath, "shard index has 'weight_map' twice");
            }
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new SafetensorsException(indexPath, "'weight_map' is not an object of tensor name → shard file name");
            }
            map = [];
            var seen = new HashSet<string>(StringComparer.Ordinal);
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string tensor = reader.GetString()!;
                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                {
                    throw new SafetensorsException(indexPath, $"weight_map entry '{tensor}' is not a file name string");
                }
                string shard = reader.GetString()!;
                if (shard.Length == 0 || System.IO.Path.GetFileName(shard) != shard || shard is "." or "..")
                {
                    throw new SafetensorsException(indexPath,
                        $"weight_map entry '{tensor}' names shard '{shard}', expected a plain file name in the index's folder");
                }
                if (!seen.Add(tensor))
                {
                    throw new SafetensorsException(indexPath, $"weight_map names tensor '{tensor}' twice");
                }
                map.Add(new(tensor, shard));
            }
        }
        // Only whitespace may follow the object, as json.load (and so transformers) requires: Read throws on anything
        // else, so a damaged index is not read as if it were whole.
        if (reader.Read())
        {
            throw new SafetensorsException(indexPath, $"shard index has a {reader.TokenType} after its JSON object");
        }
        return map ?? throw new SafetensorsException(indexPath, "is not a shard index: it has no 'weight_map' (expected a model folder, a .safetensors file or a model.safetensors.index.json)");
    }
}
