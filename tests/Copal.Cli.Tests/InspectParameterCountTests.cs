using System.Text.Json;
using Copal.Tensors;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// <c>inspect</c>'s parameter count is the model's: tensors a checkpoint may hold that the model does not read (a
/// tied model's stored copy of lm_head, the RoPE inverse frequencies older exports kept) are not parameters, as
/// transformers does not count them, and the output says which were left out.
/// </summary>
public sealed class InspectParameterCountTests : IDisposable
{
    private const string InvFreq = "model.layers.0.self_attn.rotary_emb.inv_freq";

    private readonly TempDir _temp = new("copal-inspect-");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void A_tied_models_stored_head_and_rope_buffer_are_not_counted_as_parameters()
    {
        string m = WithUnreadTensors();
        CopalProcess.Result json = CopalProcess.Run("inspect", "-m", m, "--json");
        Assert.True(json.ExitCode == 0, json.Stderr);
        using JsonDocument doc = JsonDocument.Parse(json.Stdout);
        // stories260K's 260,032, as without the two tensors; they are still listed with their bytes.
        Assert.Equal(260_032, doc.RootElement.GetProperty("parameters").GetInt64());
        Assert.Equal(49, doc.RootElement.GetProperty("tensor_count").GetInt32());
        JsonElement notCounted = doc.RootElement.GetProperty("not_counted");
        Assert.Equal(["lm_head.weight", InvFreq], notCounted.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Contains("tie_word_embeddings", notCounted.GetProperty("lm_head.weight").GetString(), StringComparison.Ordinal);

        CopalProcess.Result text = CopalProcess.Run("inspect", "-m", m);
        Assert.True(text.ExitCode == 0, text.Stderr);
        Assert.Contains("49 tensors in 1 file, 260,032 parameters (260.0K)", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("not counted as parameters: lm_head.weight (32,768 values", text.Stdout, StringComparison.Ordinal);
    }

    /// <summary>
    /// A tied checkpoint's stored lm_head is not read whatever it holds (the embedding is the head, as transformers
    /// ties it and vLLM skips it): one that differs from the embedding was called "a stored copy of the embedding".
    /// </summary>
    [Fact]
    public void A_tied_models_stored_head_that_differs_from_the_embedding_is_not_called_its_copy()
    {
        string m = WithUnreadTensors(headScale: 0.5f);
        CopalProcess.Result text = CopalProcess.Run("inspect", "-m", m);
        Assert.True(text.ExitCode == 0, text.Stderr);
        Assert.Contains("not counted as parameters: lm_head.weight (32,768 values, stored beside tied embeddings, which are the head with tie_word_embeddings: not read)", text.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("copy", text.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void A_checkpoint_with_every_tensor_read_says_nothing_is_left_out()
    {
        CopalProcess.Result json = CopalProcess.Run("inspect", "-m", TestData.Stories260K, "--json");
        using JsonDocument doc = JsonDocument.Parse(json.Stdout);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("not_counted").ValueKind);
        Assert.DoesNotContain("not counted", CopalProcess.Run("inspect", "-m", TestData.Stories260K).Stdout, StringComparison.Ordinal);
    }

    /// <summary>
    /// stories260K (tied) with its embedding times <paramref name="headScale"/> stored as lm_head.weight (a copy at
    /// 1) and a RoPE buffer of layer 0.
    /// </summary>
    private string WithUnreadTensors(float headScale = 1)
    {
        string m = TestData.CopyOfStories260K(_temp.File("model"));
        string weights = Path.Combine(m, "model.safetensors"), rewritten = weights + ".new";
        using (SafetensorsCheckpoint source = SafetensorsCheckpoint.Open(TestData.Stories260K))
        {
            TensorView embedding = source.Tensors.Single(t => t.Name == "model.embed_tokens.weight");
            using var writer = SafetensorsWriter.Create(rewritten,
                [.. source.Tensors.Select(t => new TensorSpec(t.Name, t.DType, t.Shape)), new("lm_head.weight", DType.F32, embedding.Shape), new(InvFreq, DType.F32, [4])]);
            foreach (TensorView t in source.Tensors)
            {
                writer.Write(t.Name, t.Bytes);
            }
            float[] head = [.. System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(embedding.Bytes).ToArray().Select(v => v * headScale)];
            writer.Write("lm_head.weight", System.Runtime.InteropServices.MemoryMarshal.AsBytes(head.AsSpan()));
            writer.Write(InvFreq, new byte[4 * sizeof(float)]);
            writer.Commit();
        }
        File.Move(rewritten, weights, overwrite: true);
        return m;
    }
}
