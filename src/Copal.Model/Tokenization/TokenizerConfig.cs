using System.Text.Json;
using Copal.Tensors.IO;

namespace Copal.Model.Tokenization;

/// <summary>The fields of tokenizer_config.json (transformers) that change encoding or name special tokens.</summary>
internal sealed record TokenizerConfig(string? TokenizerClass, bool? AddBosToken, bool? AddEosToken,
    string? BosToken, string? EosToken, string? UnkToken)
{
    public static TokenizerConfig Empty { get; } = new(null, null, null, null, null, null);

    /// <summary>
    /// Transformers classes whose fast tokenizer rebuilds its TemplateProcessing from add_bos_token / add_eos_token
    /// (LlamaTokenizerFast.update_post_processor and its relatives); for every other class the file's post-processor
    /// is authoritative and the flags are ignored.
    /// </summary>
    public bool FlagsRebuildTemplate => TokenizerClass is "LlamaTokenizer" or "LlamaTokenizerFast" or "CodeLlamaTokenizer"
        or "CodeLlamaTokenizerFast" or "GemmaTokenizer" or "GemmaTokenizerFast";

    public static TokenizerConfig Load(string path)
    {
        byte[] bytes;
        try
        {
            bytes = Copal.Tensors.IO.BoundedFile.ReadAllBytes(path, Copal.Tensors.IO.BoundedFile.SideFileMaxBytes, "a tokenizer_config.json");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TokenizerException($"{path}: cannot read tokenizer config file: {Copal.Tensors.IO.ReadFailure.Reason(e)}", e);
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new TokenizerException($"{path}: not valid JSON {JsonProblem.At(e)}", e);
        }
        using (doc)
        {
            var root = new JsonSection(doc.RootElement, path, "$");
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw root.Error($"expected a JSON object, found {doc.RootElement.ValueKind}");
            }
            return new TokenizerConfig(root.OptionalString("tokenizer_class"),
                root.Has("add_bos_token") ? root.Bool("add_bos_token", false) : null,
                root.Has("add_eos_token") ? root.Bool("add_eos_token", false) : null,
                TokenContent(root, "bos_token"), TokenContent(root, "eos_token"), TokenContent(root, "unk_token"));
        }
    }

    /// <summary>A special token given as a string or as an AddedToken object {"content": …}.</summary>
    private static string? TokenContent(JsonSection root, string name)
    {
        if (!root.Has(name))
        {
            return null;
        }
        JsonSection s = root.Child(name);
        return s.Element.ValueKind switch
        {
            JsonValueKind.String => s.Element.GetString(),
            JsonValueKind.Object => s.String("content"),
            _ => throw s.Error($"expected a string or {{\"content\": …}}, found {s.Element.ValueKind}"),
        };
    }
}
