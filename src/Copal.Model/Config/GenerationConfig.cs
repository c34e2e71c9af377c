using System.Text.Json;
using Copal.Tensors.IO;

namespace Copal.Model.Config;

/// <summary>
/// What Copal reads of a model's <c>generation_config.json</c>: the ids that end a generation. Instruct models often
/// list there the end-of-turn tokens config.json does not (Phi-3's <c>&lt;|end|&gt;</c>, Llama 3's
/// <c>&lt;|eot_id|&gt;</c>), and transformers' generate and vLLM stop at them; so does Copal.
/// </summary>
public static class GenerationConfig
{
    /// <summary>The file's name in a model folder.</summary>
    public const string FileName = "generation_config.json";

    /// <summary>
    /// <c>eos_token_id</c> (one id or a list) of <paramref name="modelDirectory"/>'s generation_config.json; empty
    /// when the folder has no such file or the file no such field.
    /// </summary>
    /// <exception cref="ModelConfigException">The file is not JSON, or the field is not ids in 0..<paramref name="vocabSize"/> − 1.</exception>
    public static IReadOnlyList<int> EosTokenIds(string modelDirectory, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        string file = Path.Combine(modelDirectory, FileName);
        if (!File.Exists(file))
        {
            return [];
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(Copal.Tensors.IO.BoundedFile.ReadAllText(file, Copal.Tensors.IO.BoundedFile.SideFileMaxBytes, "a generation_config.json"), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new ModelConfigException(file, $"is not readable JSON {JsonProblem.At(e)}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not read at all (a named pipe, a file past the bound, no permission): said as config.json's is, not as JSON.
            throw new ModelConfigException(file, $"cannot be read: {Copal.Tensors.IO.ReadFailure.Reason(e)}", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ModelConfigException(file, $"expected a JSON object at the top level, found {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}");
            }
            var reader = new ConfigReader(doc.RootElement, file);
            IReadOnlyList<int> ids = reader.IntOrIntList("eos_token_id");
            foreach (int id in ids)
            {
                if (id < 0 || id >= vocabSize)
                {
                    throw reader.Error(FormattableString.Invariant($"field 'eos_token_id' must be a token id in 0..{vocabSize - 1} (vocab_size {vocabSize}), found {id}"));
                }
            }
            return ids;
        }
    }
}
