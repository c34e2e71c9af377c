using System.CommandLine;
using Copal.Cli.Infrastructure;
using Copal.Model.Config;
using Copal.Model.Synthetic;
using Copal.Model.Tokenization;
using Copal.Tensors;
using Copal.Tensors.IO;

namespace Copal.Cli.Commands;

/// <summary><c>copal synth</c>: a LLaMA model with random weights in real shapes, for benchmarks and scale tests.</summary>
internal static class SynthCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = "A config.json whose shapes to use: the file (any name) or a model folder holding it" }.Path();
        var preset = new Option<string?>("--preset") { Description = $"A named shape: {string.Join(", ", SyntheticPresets.All.Keys)}" }
            .Accept(v => SyntheticPresets.All.ContainsKey(v) ? null : OptionRules.Alternatives([.. SyntheticPresets.All.Keys]));
        var outDir = new Option<string>("--out", "-o") { Description = "Output model folder", Required = true }.Folder();
        var dtype = new Option<string>("--dtype") { Description = "bf16, f16 or f32", DefaultValueFactory = _ => "bf16" }
            .Accept(v => ParseDType(v) is null ? "bf16, f16 or f32" : null);
        var seed = new Option<ulong>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 0UL };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Folder with tokenizer.json to copy, of at most the model's vocab_size tokens (fewer is a padded vocabulary, and a notice says so; default, relative to the current folder: ../shared/data/tokenizers/llama2 for a vocab_size of 32000 or llama3 for 128256, when present)" }.InputFolder("a folder with tokenizer.json");
        var force = new Option<bool>("--force") { Description = "Replace an existing non-empty output folder" };
        var command = new Command("synth", "Write a LLaMA model with random weights in real shapes") { config, preset, outDir, dtype, seed, tokenizer, force };
        command.SetBody((p, ct) =>
        {
            string? configPath = p.GetValue(config);
            string? presetName = p.GetValue(preset);
            if ((configPath is null) == (presetName is null))
            {
                throw new UsageException("give exactly one of --config or --preset");
            }
            LlamaConfig c = configPath is not null ? LoadConfig(configPath, p.Typed(config)) : SyntheticPresets.Get(presetName!);
            DType type = ParseDType(p.GetValue(dtype)!)!.Value;
            string? tok = p.GetValue(tokenizer) ?? DefaultTokenizer(c.VocabSize);
            if (tok is not null)
            {
                Inputs.Folder(tok, p.Typed(tokenizer), "a folder with tokenizer.json", "tokenizer.json");
            }
            // Locked before its vocabulary is checked (InputFolderLock; the output takes the lock again, shared): a
            // --force over the folder between the check and the lock would copy in a tokenizer never checked. After
            // the folder's own checks, which name --tokenizer (a loop of links, a missing folder).
            using FolderLock? reading = tok is null ? null : InputFolderLock.Acquire(tok, "the input folder");
            if (tok is not null)
            {
                RequireVocabulary(tok, p.GetValue(tokenizer) is null ? "the default tokenizer" : p.Typed(tokenizer), c.VocabSize);
            }
            string outPath = p.GetValue(outDir)!;
            if (configPath is not null)
            {
                PathGuard.RequireApart(outPath, "--out", configPath, Directory.Exists(configPath) ? "the --config folder" : "the --config file");
            }
            if (tok is not null)
            {
                PathGuard.RequireApart(outPath, "--out", tok, "the --tokenizer folder");
            }
            using var progressLine = new ProgressLine();
            // A config whose sizes no file can hold is named as the user gave it.
            // A model folder's generation_config.json lists the ids its generation stops at (an instruct model's end of
            // turn): the synthetic copy keeps them.
            IReadOnlyList<int> generationEos = ModelFolderOf(configPath) is string folder ? GenerationConfig.EosTokenIds(folder, c.VocabSize) : [];
            SyntheticModelWriter.Write(c, outPath, type, p.GetValue(seed), tok, p.GetValue(force),
                new SyncProgress<string>(m => progressLine.Update(m)), configPath is not null ? $"{p.Typed(config)} '{configPath}'" : $"--preset {presetName}",
                generationEos, ct);
            progressLine.Done();
            Out.Info($"copal: wrote {outPath} ({SyntheticModelWriter.AsWritten(c, type)}) in {type}{(tok is null ? NoTokenizer(c.VocabSize) : "")}");
            return CliErrors.Ok;
        });
        return command;
    }

    /// <summary>
    /// The model folder whose config --config names: the folder itself, or the folder of a file named config.json
    /// (`--config M/config.json` is M's config, as `--config M` is); null for a preset or a config of another name,
    /// which is a file alone, whatever lies beside it.
    /// </summary>
    private static string? ModelFolderOf(string? configPath) =>
        configPath is null ? null
        : Directory.Exists(configPath) ? configPath
        : Path.GetFileName(configPath) == "config.json" ? Path.GetDirectoryName(Path.GetFullPath(configPath))
        : null;

    /// <summary>
    /// The tokenizer in <paramref name="directory"/> has at most <paramref name="vocabSize"/> tokens: more cannot be
    /// embedded, a usage error naming both sizes. Fewer is a padded vocabulary, as real models have (Qwen2: 151,936
    /// rows for 151,665 tokens); generation never chooses the ids past the tokenizer, so it is said and allowed.
    /// </summary>
    private static void RequireVocabulary(string directory, string typed, int vocabSize)
    {
        int tokens = CopalTokenizer.FromDirectory(directory).VocabSize;
        if (tokens > vocabSize)
        {
            throw new UsageException($"{typed}: '{directory}' has {tokens} tokens, but the model's vocab_size is {vocabSize}; "
                + $"expected at most {vocabSize} tokens (ids from {vocabSize} up would have no embedding)");
        }
        if (tokens < vocabSize)
        {
            Out.Info($"copal: the model's vocab_size {vocabSize} is padded beyond the tokenizer's {tokens} tokens; generation never chooses the ids past it");
        }
    }

    /// <summary>The config of --config: a file of any name, or a model folder's config.json.</summary>
    private static LlamaConfig LoadConfig(string path, string typed)
    {
        const string Expected = "expected a config.json file or a model folder holding one";
        Inputs.RefuseStdio(path, typed, "a file");
        if (File.Exists(path))
        {
            return LlamaConfig.LoadFile(path);
        }
        if (!Directory.Exists(path))
        {
            throw new FileNotFoundException($"{typed}: '{path}' does not exist; {Expected}", path);
        }
        Inputs.Folder(path, typed, Expected, "config.json"); // one that cannot be read would seem to have no config.json
        if (!Path.Exists(Path.Combine(path, "config.json")))
        {
            throw new FileNotFoundException($"{typed}: folder '{path}' has no config.json; {Expected}", path);
        }
        return LlamaConfig.Load(path);
    }

    private static DType? ParseDType(string value) => value.Trim().ToLowerInvariant() switch
    {
        "bf16" or "bfloat16" => DType.BF16,
        "f16" or "fp16" or "float16" => DType.F16,
        "f32" or "fp32" or "float32" => DType.F32,
        _ => null,
    };

    // The Llama-2 tokenizer has 32000 tokens, which most presets use; the Llama-3 one 128256 (llama3-8b).
    private static string? DefaultTokenizer(int vocab) => DefaultTokenizerPath(vocab) is string candidate && Directory.Exists(candidate) ? candidate : null;

    // The default is relative to the current folder (the repository's, with shared/ beside it): run elsewhere, the model
    // has no tokenizer, so the last line says where the default was looked for rather than only that there is none.
    private static string NoTokenizer(int vocab) => DefaultTokenizerPath(vocab) is string candidate
        ? $", no tokenizer: none given, and the default '{candidate}' is not in the current folder '{Environment.CurrentDirectory}'; --tokenizer FOLDER copies one"
        : $", no tokenizer: none given, and none is bundled for a vocab_size of {vocab}; --tokenizer FOLDER copies one";

    private static string? DefaultTokenizerPath(int vocab) =>
        DefaultTokenizerName(vocab) is string name ? Path.Combine("..", "shared", "data", "tokenizers", name) : null;

    /// <summary>The bundled tokenizer (shared/data/tokenizers/NAME) of exactly <paramref name="vocab"/> tokens, if any.</summary>
    internal static string? DefaultTokenizerName(int vocab) => vocab switch { 32000 => "llama2", 128256 => "llama3", _ => null };
}
