using System.Text.Json;
using Copal.Model.ChatTemplates;
using Copal.Model.Weights;
using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Prune.Tests;

/// <summary>
/// What a pruned or compacted model folder keeps of its input's other files: the files a Hugging Face model needs
/// beside its weights travel with it, and weights the output replaces do not.
/// </summary>
public sealed class OutputSideFilesTests : IDisposable
{
    private readonly TempDir _root = new("copal-side-files-");

    public void Dispose() => _root.Dispose();

    [Fact]
    public void Prune_keeps_the_chat_template_file_that_transformers_saves_beside_the_tokenizer()
    {
        // transformers 4.50 and later save a tokenizer's chat template as chat_template.jinja, not in
        // tokenizer_config.json: a pruned copy without it has no chat template.
        string input = TestData.CopyOfStories260K(_root.File("input"));
        string template = "{% for message in messages %}{{ message['content'] }}{% endfor %}";
        File.WriteAllText(Path.Combine(input, "chat_template.jinja"), template);
        string output = _root.File("pruned");

        Prune(input, output);

        Assert.Equal(template, File.ReadAllText(Path.Combine(output, "chat_template.jinja")));
    }

    [Fact]
    public void Prune_compact_and_densify_keep_the_named_chat_templates_transformers_saves_in_their_own_folder()
    {
        // transformers saves a tokenizer's templates other than the default as additional_chat_templates/NAME.jinja;
        // `serve` offers them by name (chat_template_kwargs / the request's chat_template). Outputs lost them: prune
        // copies listed files only, compact and densify top-level files only.
        string input = TestData.CopyOfStories260K(_root.File("input"));
        string folder = Directory.CreateDirectory(Path.Combine(input, "additional_chat_templates")).FullName;
        const string template = "{% for message in messages %}[{{ message['content'] }}]{% endfor %}";
        File.WriteAllText(Path.Combine(folder, "tool_use.jinja"), template);
        string pruned = _root.File("pruned"), compact = _root.File("compact"), dense = _root.File("dense");

        Prune(input, pruned);
        CheckpointCompactor.Compact(pruned, compact, CompactFormat.Auto, overwrite: false);
        CheckpointCompactor.Densify(compact, dense, overwrite: false);

        foreach (string output in new[] { pruned, compact, dense })
        {
            Assert.Equal(template, File.ReadAllText(Path.Combine(output, "additional_chat_templates", "tool_use.jinja")));
            Assert.Contains("tool_use", ChatTemplate.FromDirectory(output)!.Names);
        }
    }

    [Fact]
    public void Compact_of_a_folder_with_model_safetensors_beside_a_shard_index_leaves_the_shards_behind()
    {
        // The folder is read from model.safetensors; the index's shards hold the same dense weights laid out the
        // other way. The index was left out of the output but its shards were copied in: stale dense weights beside
        // the compact ones, as large as the input, in an output said to be smaller.
        string input = _root.File("pruned");
        Prune(TestData.Stories260K, input);
        const string shard = "model-00001-of-00001.safetensors";
        File.Copy(Path.Combine(input, SafetensorsCheckpoint.SingleFileName), Path.Combine(input, shard));
        using (SafetensorsCheckpoint stored = SafetensorsCheckpoint.Open(input))
        {
            var index = new { metadata = new { total_size = stored.Tensors.Sum(t => t.ByteLength) }, weight_map = stored.Tensors.ToDictionary(t => t.Name, _ => shard) };
            File.WriteAllText(Path.Combine(input, SafetensorsCheckpoint.IndexFileName), JsonSerializer.Serialize(index));
        }
        string output = _root.File("compact");

        CheckpointCompactor.Compact(input, output, CompactFormat.Auto, overwrite: false);

        Assert.False(File.Exists(Path.Combine(output, shard)), $"the compact output holds the input's dense shard {shard}");
        // Nor the index: the output's weights are one file, and an index naming shards it does not hold is stale.
        Assert.False(File.Exists(Path.Combine(output, SafetensorsCheckpoint.IndexFileName)), "the compact output holds the input's shard index");
        Assert.True(File.Exists(Path.Combine(output, PruneJob.ReportFileName)), "the prune report, a side file, was not copied");
    }

    [Fact]
    public void Compact_keeps_a_side_file_that_an_unread_shard_index_names_as_a_shard()
    {
        // An unread index is not checked (loading never reads it), so it may name anything: a config.json it names
        // among its shards was left out of the output, which then had no config and did not load.
        string input = _root.File("pruned");
        Prune(TestData.Stories260K, input);
        using (SafetensorsCheckpoint stored = SafetensorsCheckpoint.Open(input))
        {
            var index = new { weight_map = stored.Tensors.ToDictionary(t => t.Name, _ => "config.json") };
            File.WriteAllText(Path.Combine(input, SafetensorsCheckpoint.IndexFileName), JsonSerializer.Serialize(index));
        }
        string output = _root.File("compact");

        CheckpointCompactor.Compact(input, output, CompactFormat.Auto, overwrite: false);

        Assert.Equal(File.ReadAllText(Path.Combine(input, "config.json")), File.ReadAllText(Path.Combine(output, "config.json")));
    }

    private static void Prune(string input, string output)
    {
        using var backend = new CpuBackend(threads: 1);
        PruneJob.Run(new PruneRequest(input, output, PrunerFactory.Create("magnitude"),
            new PruneOptions(SparsityPattern.Parse("2:4")) { MeasureLayerError = false }, CalibrationSet.None()), backend);
    }
}
