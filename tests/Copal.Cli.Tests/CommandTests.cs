using System.Text.Json;
using Copal.Cli.Commands;
using Copal.Model.Config;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>The commands on the real model: the README's main job, JSON outputs, and a pruning run whose output loads.</summary>
public sealed class CommandTests : IDisposable
{
    private readonly TempDir _temp = new("copal-cmd-");

    [Fact]
    public void Generate_prints_the_published_story()
    {
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", TestData.Stories260K, "--device", "cpu");
        Assert.Equal(0, r.ExitCode);
        string expected = File.ReadAllText(Path.Combine(TestData.Stories260K, "reference_greedy_t0.txt")).TrimEnd('\n');
        Assert.Equal(expected, r.Stdout.TrimEnd('\n'));
        Assert.Contains("decode", r.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// An argument that starts with '@' is itself, not a response file of more arguments: a prompt that addresses
    /// someone, and a data file whose name starts with '@' (System.CommandLine read both as files to expand).
    /// </summary>
    [Fact]
    public void Arguments_starting_with_at_are_taken_as_given()
    {
        CopalProcess.Result generated = CopalProcess.Run("generate", "-m", TestData.Stories260K, "-p", "@Lily said hello", "-n", "3", "--json", "--device", "cpu");
        Assert.True(generated.ExitCode == 0, generated.Stderr);
        using (JsonDocument doc = JsonDocument.Parse(generated.Stdout))
        {
            Assert.Equal(3, doc.RootElement.GetProperty("ids").GetArrayLength());
        }

        string data = _temp.File("@story.txt");
        File.WriteAllText(data, "Once upon a time there was a little girl named Lily. She liked to play in the park with her dog.");
        CopalProcess.Result tokenized = CopalProcess.Run("tokenize", "-m", TestData.Stories260K, "-f", data);
        Assert.True(tokenized.ExitCode == 0, tokenized.Stderr);
        Assert.NotEmpty(tokenized.Stdout.Trim());
    }

    [Fact]
    public void Generate_json_is_deterministic_with_a_seed()
    {
        string[] args = ["generate", "-m", TestData.Stories260K, "-n", "20", "--temperature", "0.8", "--top-p", "0.9", "--seed", "42", "--json", "--device", "cpu"];
        using JsonDocument a = JsonDocument.Parse(CopalProcess.Run(args).Stdout);
        using JsonDocument b = JsonDocument.Parse(CopalProcess.Run(args).Stdout);
        Assert.Equal(a.RootElement.GetProperty("ids").GetRawText(), b.RootElement.GetProperty("ids").GetRawText());
        Assert.Equal(20, a.RootElement.GetProperty("ids").GetArrayLength());
    }

    /// <summary>generate's --min-p and OpenAI's penalties reach the sampler: the ids are the library's under the same options, and not plain greedy's.</summary>
    [Fact]
    public void Generate_takes_min_p_and_the_openai_penalties_as_the_sampler_does()
    {
        int[] Ids(params string[] extra)
        {
            CopalProcess.Result r = CopalProcess.Run([.. new[] { "generate", "-m", TestData.Stories260K, "-n", "30", "--json", "--device", "cpu" }, .. extra]);
            Assert.True(r.ExitCode == 0, r.Stderr);
            using JsonDocument doc = JsonDocument.Parse(r.Stdout);
            return [.. doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32())];
        }
        var options = new Copal.Model.Generation.SamplingOptions { Temperature = 0.9f, MinP = 0.2f, PresencePenalty = 0.5f, FrequencyPenalty = 1f, Seed = 7 };
        using var backend = new Copal.Tensors.Backends.Cpu.CpuBackend();
        using Copal.Model.Inference.LlamaModel model = Copal.Model.Inference.LlamaModel.Load(TestData.Stories260K, backend);
        var tokenizer = Copal.Model.Tokenization.CopalTokenizer.FromDirectory(TestData.Stories260K);
        var stops = new HashSet<int>(model.Config.EosTokenIds) { tokenizer.EosId!.Value };
        var generator = new Copal.Model.Generation.Generator(model) { DecodableTokens = tokenizer.VocabSize };
        int[] expected = [.. generator.Generate([tokenizer.BosId!.Value], 30, options, stops).GeneratedIds];
        int[] given = Ids("--temperature", "0.9", "--min-p", "0.2", "--presence-penalty", "0.5", "--frequency-penalty", "1", "--seed", "7");
        Assert.Equal(expected, given);
        Assert.NotEqual(Ids(), given);
    }

    [Fact]
    public void Inspect_json_counts_the_parameters()
    {
        CopalProcess.Result r = CopalProcess.Run("inspect", TestData.Stories260K, "--json");
        Assert.Equal(0, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal(260_032, doc.RootElement.GetProperty("parameters").GetInt64());
        Assert.Equal(47, doc.RootElement.GetProperty("tensor_count").GetInt32());
    }

    [Fact]
    public void Tokenize_and_detokenize_round_trip()
    {
        CopalProcess.Result t = CopalProcess.Run("tokenize", "-m", TestData.Stories260K, "--text", "Lily saw a big red ball.", "--json");
        using JsonDocument doc = JsonDocument.Parse(t.Stdout);
        string ids = string.Join(' ', doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        CopalProcess.Result d = CopalProcess.Run("detokenize", "-m", TestData.Stories260K, "--ids", ids);
        Assert.Equal("Lily saw a big red ball.", d.Stdout.TrimEnd('\n'));
    }

    /// <summary>
    /// A tiny model's figures show: stories260K streams 226,560 linear and 32,768 lm_head weights, 1,037,312 bytes, per
    /// token (it read "0 M linear + 0 M lm_head params" and "0.00 GB").
    /// </summary>
    [Fact]
    public void Bench_gives_a_tiny_models_parameters_and_bytes_in_units_that_show_them()
    {
        CopalProcess.Result r = CopalProcess.Run("bench", "-m", TestData.Stories260K, "--device", "cpu", "--repeat", "1", "--prefill", "8", "--decode", "3");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("weights streamed per token: 1.0 MB (226.6K linear + 32.8K lm_head params)", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("; 1.0 MB of weights streamed per decoded token", r.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// stories260K's weights as a Mistral with a window of 4: its decode slides the layers' caches past the prompt, and
    /// the profile round, which rewinds to the prompt's end, runs the prompt again instead of reading dropped keys.
    /// </summary>
    [Fact]
    public void Bench_profiles_a_model_whose_sliding_window_caches_slid()
    {
        string model = TestData.CopyOfStories260K(_temp.File("windowed"));
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(model, "config.json")))!.AsObject();
        config["architectures"] = new System.Text.Json.Nodes.JsonArray("MistralForCausalLM");
        config["model_type"] = "mistral";
        config["sliding_window"] = 4;
        File.WriteAllText(Path.Combine(model, "config.json"), config.ToJsonString());
        CopalProcess.Result r = CopalProcess.Run("bench", "-m", model, "--device", "cpu", "--repeat", "1", "--prefill", "8", "--decode", "40");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("decode profile", r.Stdout + r.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// --chat renders --prompt (and --system) through the model's chat template, with --chat-template-kwargs as its
    /// variables, and tokenizes the result without adding BOS (the template writes its own); the reply alone is printed.
    /// </summary>
    [Fact]
    public void Generate_chat_renders_the_message_through_the_models_template()
    {
        string model = TestData.CopyOfStories260K(_temp.File("chat"));
        const string template = "{{ bos_token }}{% for m in messages %}{% if m['content'] == 'forbidden' %}{{ raise_exception('no forbidden words') }}{% endif %}"
            + "{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}"
            + "{% if add_generation_prompt %}{{ 'assistant:' }}{% if mood is defined %}{{ ' (' + mood + ')' }}{% endif %}{% endif %}";
        File.WriteAllText(Path.Combine(model, "tokenizer_config.json"), System.Text.Json.JsonSerializer.Serialize(
            new Dictionary<string, string> { ["chat_template"] = template, ["bos_token"] = "<s>", ["eos_token"] = "</s>" }));
        var tokenizer = Copal.Model.Tokenization.CopalTokenizer.FromDirectory(model);

        CopalProcess.Result r = CopalProcess.Run("generate", "-m", model, "--chat", "-p", "Tell me a story", "--system", "Be kind.",
            "--chat-template-kwargs", "{\"mood\": \"happy\"}", "-n", "3", "--json", "--device", "cpu");
        Assert.True(r.ExitCode == 0, r.Stderr);
        int[] expected = tokenizer.Encode("<s>system: Be kind.\nuser: Tell me a story\nassistant: (happy)", addSpecialTokens: false);
        using var doc = System.Text.Json.JsonDocument.Parse(r.Stdout);
        Assert.Equal(expected, doc.RootElement.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()));

        // The reply alone is printed, not the rendered prompt.
        CopalProcess.Result plain = CopalProcess.Run("generate", "-m", model, "--chat", "-p", "Tell me a story", "-n", "3", "--device", "cpu");
        Assert.True(plain.ExitCode == 0, plain.Stderr);
        Assert.DoesNotContain("user:", plain.Stdout, StringComparison.Ordinal);

        foreach ((string[] args, string message) in new (string[], string)[]
        {
            (["-m", TestData.Stories260K, "--chat", "-p", "Hi"], "has no chat template (no chat_template.jinja, and no chat_template in tokenizer_config.json); give the text as --prompt without --chat"),
            (["-m", model, "--system", "Be kind."], "--system applies only with --chat"),
            (["-m", model, "--chat"], "--chat takes --prompt as the user's message; give one"),
            (["-m", model, "--chat", "-p", "forbidden"], $"--chat: the chat template of '{Path.Combine(model, "tokenizer_config.json")}' refused this conversation: no forbidden words"),
            (["-m", model, "--chat", "--chat-template-kwargs", "[1]"], "--chat-template-kwargs: expected a JSON object, e.g. '{\"enable_thinking\": false}', got '[1]'"),
        })
        {
            CopalProcess.Result bad = CopalProcess.Run(["generate", .. args, "--device", "cpu"]);
            Assert.Equal(2, bad.ExitCode);
            Assert.Contains(message, bad.Stderr, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// A chat template saved apart, as chat_template.jinja (transformers 4.50 and later), renders --chat, and its
    /// refusal of a conversation names that file, not tokenizer_config.json.
    /// </summary>
    [Fact]
    public void Generate_chat_reads_a_chat_template_jinja_and_names_it_in_a_refusal()
    {
        string model = TestData.CopyOfStories260K(_temp.File("jinja"));
        string file = Path.Combine(model, "chat_template.jinja");
        File.WriteAllText(file, "{{ bos_token }}{% for m in messages %}{% if m['content'] == 'forbidden' %}{{ raise_exception('no forbidden words') }}{% endif %}"
            + "{{ m['role'] + ': ' + m['content'] }}{% endfor %}");

        CopalProcess.Result r = CopalProcess.Run("generate", "-m", model, "--chat", "-p", "Tell me a story", "-n", "3", "--json", "--device", "cpu");
        Assert.True(r.ExitCode == 0, r.Stderr);
        int[] expected = Copal.Model.Tokenization.CopalTokenizer.FromDirectory(model).Encode("<s>user: Tell me a story", addSpecialTokens: false);
        using (var doc = System.Text.Json.JsonDocument.Parse(r.Stdout))
        {
            Assert.Equal(expected, doc.RootElement.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()));
        }

        CopalProcess.Result bad = CopalProcess.Run("generate", "-m", model, "--chat", "-p", "forbidden", "--device", "cpu");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains($"--chat: the chat template of '{file}' refused this conversation: no forbidden words", bad.Stderr, StringComparison.Ordinal);
    }

    /// <summary>A count of one reads "1 window", "1 position", not "1 windows".</summary>
    [Fact]
    public void A_count_of_one_is_singular()
    {
        CopalProcess.Result ppl = CopalProcess.Run("perplexity", "-m", TestData.Stories260K, "--data", TestData.Path("text", "tinystories", "eval.txt"),
            "--limit-chunks", "1", "--device", "cpu");
        Assert.True(ppl.ExitCode == 0, ppl.Stderr);
        Assert.Contains("(1 window of 512)", ppl.Stdout, StringComparison.Ordinal);
        // An empty text is BOS alone: one position.
        CopalProcess.Result logits = CopalProcess.Run("logits", "-m", TestData.Stories260K, "-t", "", "-o", "-", "--device", "cpu");
        Assert.True(logits.ExitCode == 0, logits.Stderr);
        Assert.Contains("copal: wrote 1 position to standard output", logits.Stderr, StringComparison.Ordinal);
        CopalProcess.Result tokens = CopalProcess.Run("tokenize", "-m", TestData.Stories260K, "-t", "");
        Assert.True(tokens.ExitCode == 0, tokens.Stderr);
        Assert.Equal("1 token\n", tokens.Stderr);
        CopalProcess.Result inspect = CopalProcess.Run("inspect", "-m", TestData.Stories260K);
        Assert.Contains("47 tensors in 1 file,", inspect.Stdout, StringComparison.Ordinal);
        Assert.Contains("metadata: format=pt; 1 entry with --json", inspect.Stdout, StringComparison.Ordinal);
    }

    /// <summary>
    /// Magnitude without --calib runs no forward pass: its estimate counts only the pruning (there was once one of
    /// "activations 512 B for 1 × 2 tokens"). With --calib it measures the layer errors on windows --seed draws.
    /// </summary>
    [Fact]
    public void Magnitude_prunes_with_an_estimate_of_the_pruning_alone_and_measures_errors_on_seeded_windows()
    {
        CopalProcess.Result bare = CopalProcess.Run("prune", "-m", TestData.Stories260K, "-o", _temp.File("bare"), "--method", "magnitude",
            "--sparsity", "0.5", "--device", "cpu");
        Assert.True(bare.ExitCode == 0, bare.Stderr);
        Assert.Contains("no calibration data", bare.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("activations", bare.Stderr, StringComparison.Ordinal);
        Assert.Contains("(pruning one layer's linears, one at a time; no forward pass)", bare.Stderr, StringComparison.Ordinal);

        CopalProcess.Result measured = CopalProcess.Run("prune", "-m", TestData.Stories260K, "-o", _temp.File("measured"), "--method", "magnitude",
            "--sparsity", "0.5", "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "32", "--seed", "3", "--device", "cpu");
        Assert.True(measured.ExitCode == 0, measured.Stderr);
        Assert.Contains("activations", measured.Stderr, StringComparison.Ordinal);
        Assert.Contains("output error", measured.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Prune_writes_a_loadable_model_with_a_report_and_leaves_the_input_alone()
    {
        string before = BadInputTests.Hash(TestData.Stories260K);
        string outDir = _temp.File("wanda-2of4");
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", TestData.Stories260K, "-o", outDir, "--method", "wanda", "--pattern", "2:4",
            "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "8", "--seqlen", "128", "--device", "cpu", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using JsonDocument report = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "prune-report.json")));
        Assert.Equal(0.5, report.RootElement.GetProperty("total_sparsity").GetDouble());
        Assert.Equal(5, report.RootElement.GetProperty("layers").GetArrayLength());
        Assert.Equal(before, BadInputTests.Hash(TestData.Stories260K));
        foreach (string f in new[] { "config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json", "model.safetensors" })
        {
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        }
        CopalProcess.Result ppl = CopalProcess.Run("perplexity", "-m", outDir, "--data", TestData.Path("text", "tinystories", "eval.txt"),
            "--seqlen", "256", "--limit-chunks", "4", "--compare", TestData.Stories260K, "--json", "--device", "cpu");
        Assert.True(ppl.ExitCode == 0, ppl.Stderr);
        using JsonDocument p = JsonDocument.Parse(ppl.Stdout);
        double pruned = p.RootElement.GetProperty("ppl").GetDouble();
        double dense = p.RootElement.GetProperty("compare").GetProperty("base_ppl").GetDouble();
        Assert.True(pruned > dense, $"pruned ppl {pruned} should exceed dense {dense}");
        Assert.InRange(p.RootElement.GetProperty("compare").GetProperty("top1_agreement").GetDouble(), 0.05, 0.999);
    }

    // --config takes a config file of any name, or a model folder holding config.json.
    [Fact]
    public void Synth_takes_a_config_file_of_any_name_or_a_model_folder()
    {
        string copy = _temp.File("cfgcopy.txt");
        File.Copy(Path.Combine(TestData.Stories260K, "config.json"), copy);
        foreach ((string config, string name) in new[] { (copy, "from-file"), (TestData.Stories260K, "from-folder") })
        {
            string outDir = _temp.File(name);
            CopalProcess.Result r = CopalProcess.Run("synth", "--config", config, "-o", outDir, "--dtype", "f32");
            Assert.True(r.ExitCode == 0, r.Stderr);
            Assert.Contains("\"vocab_size\": 512", File.ReadAllText(Path.Combine(outDir, "config.json")), StringComparison.Ordinal);
        }
        string absent = _temp.File("absent.json");
        CopalProcess.Result missing = CopalProcess.Run("synth", "--config", absent, "-o", _temp.File("x"));
        Assert.True(missing.ExitCode == 1, missing.Stderr);
        Assert.Equal($"copal: error: --config: '{absent}' does not exist; expected a config.json file or a model folder holding one\n", missing.Stderr);
        string empty = _temp.File("empty");
        Directory.CreateDirectory(empty);
        CopalProcess.Result none = CopalProcess.Run("synth", "--config", empty, "-o", _temp.File("x"));
        Assert.True(none.ExitCode == 1, none.Stderr);
        Assert.Equal($"copal: error: --config: folder '{empty}' has no config.json; expected a config.json file or a model folder holding one\n", none.Stderr);
        Assert.False(Directory.Exists(_temp.File("x")));
    }

    /// <summary>
    /// synth of a model folder keeps the ids its generation_config.json stops at (an instruct model's end of turn, which
    /// config.json often lacks), where it wrote config.json's alone; a config with no bos or eos gets none invented.
    /// </summary>
    [Fact]
    public void Synth_of_a_model_folder_keeps_its_generation_end_ids_and_invents_none()
    {
        string source = _temp.File("source");
        Directory.CreateDirectory(source);
        string config = File.ReadAllText(Path.Combine(TestData.Stories260K, "config.json"));
        File.WriteAllText(Path.Combine(source, "config.json"), config);
        File.WriteAllText(Path.Combine(source, "generation_config.json"), "{ \"eos_token_id\": [2, 7] }");
        string kept = _temp.File("kept");
        CopalProcess.Result r = CopalProcess.Run("synth", "--config", source, "-o", kept, "--dtype", "f32");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal([2, 7], GenerationConfig.EosTokenIds(kept, 512));

        string bare = _temp.File("bare.json");
        var fields = System.Text.Json.Nodes.JsonNode.Parse(config)!.AsObject();
        fields.Remove("bos_token_id");
        fields.Remove("eos_token_id");
        File.WriteAllText(bare, fields.ToJsonString());
        string none = _temp.File("none");
        CopalProcess.Result b = CopalProcess.Run("synth", "--config", bare, "-o", none, "--dtype", "f32");
        Assert.True(b.ExitCode == 0, b.Stderr);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(none, "generation_config.json")));
        Assert.Empty(doc.RootElement.EnumerateObject());
    }

    /// <summary>
    /// A model folder's config.json given as the file (`--config M/config.json`) is that folder's config: its
    /// generation_config.json end ids are kept as for `--config M`, where they were read only for the folder, so a
    /// copy of an instruct model made so did not stop at its end of turn. A config of another name is a file alone.
    /// </summary>
    [Fact]
    public void Synth_of_a_model_folders_config_file_keeps_its_generation_end_ids()
    {
        string source = _temp.File("source");
        Directory.CreateDirectory(source);
        File.Copy(Path.Combine(TestData.Stories260K, "config.json"), Path.Combine(source, "config.json"));
        File.Copy(Path.Combine(TestData.Stories260K, "config.json"), Path.Combine(source, "llama.json"));
        File.WriteAllText(Path.Combine(source, "generation_config.json"), "{ \"eos_token_id\": [2, 7] }");

        string kept = _temp.File("kept");
        CopalProcess.Result r = CopalProcess.Run("synth", "--config", Path.Combine(source, "config.json"), "-o", kept, "--dtype", "f32");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal([2, 7], GenerationConfig.EosTokenIds(kept, 512));

        string alone = _temp.File("alone");
        CopalProcess.Result a = CopalProcess.Run("synth", "--config", Path.Combine(source, "llama.json"), "-o", alone, "--dtype", "f32");
        Assert.True(a.ExitCode == 0, a.Stderr);
        Assert.Equal([2], GenerationConfig.EosTokenIds(alone, 512));
    }

    /// <summary>
    /// prune's memory estimate counts the pruned linears' copies in the dtype the checkpoint stores them in: it took the
    /// config's torch_dtype, so an F32 checkpoint whose config says bfloat16 (such configs are common) was estimated at
    /// the size of a BF16 one, and a BF16 one whose config says float32 at twice its size.
    /// </summary>
    [Fact]
    public void Prune_estimates_memory_for_the_stored_dtype_not_the_configs()
    {
        string EstimateOf(string model)
        {
            CopalProcess.Result r = CopalProcess.Run("prune", "-m", model, "-o", Path.Combine(_temp.Path, "pruned-" + Path.GetFileName(model)), "--method", "magnitude", "--sparsity", "0.5");
            Assert.True(r.ExitCode == 0, r.Stderr);
            return r.Stderr.Split('\n').Single(l => l.Contains("estimated memory", StringComparison.Ordinal));
        }
        string stored = TestData.CopyOfStories260K(_temp.File("f32"));
        string claimed = TestData.CopyOfStories260K(_temp.File("f32-config-bf16"));
        string configPath = Path.Combine(claimed, "config.json");
        string config = File.ReadAllText(configPath);
        Assert.Contains("\"torch_dtype\": \"float32\"", config, StringComparison.Ordinal);
        File.WriteAllText(configPath, config.Replace("\"torch_dtype\": \"float32\"", "\"torch_dtype\": \"bfloat16\"", StringComparison.Ordinal));
        Assert.Equal(EstimateOf(stored), EstimateOf(claimed));
    }

    /// <summary>A small Gemma 3 config (hidden 160: √160 is 12.649 in f32, 12.625 in bfloat16) for synth.</summary>
    private const string Gemma3Config = """
        {"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "hidden_size": 160, "intermediate_size": 256,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 32, "vocab_size": 512,
         "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 1000000, "rope_local_base_freq": 10000,
         "sliding_window": 16, "sliding_window_pattern": 2, "query_pre_attn_scalar": 32, "tie_word_embeddings": true,
         "torch_dtype": "bfloat16", "hidden_activation": "gelu_pytorch_tanh"}
        """;

    /// <summary>
    /// synth writes the config with its --dtype, and a Gemma 3's embedding scale is √hidden rounded to that dtype; the
    /// line that says what was written described the --config as given, so a bfloat16 config written in F32 was said
    /// to scale by 12.625 where the model (and `inspect`) scales by 12.649.
    /// </summary>
    [Theory]
    [InlineData("f32")]
    [InlineData("f16")]
    public void Synth_describes_the_config_it_wrote_in_its_dtype(string dtype)
    {
        string config = _temp.File("gemma3.json");
        File.WriteAllText(config, Gemma3Config);
        string outDir = Path.Combine(_temp.Path, "gemma-" + dtype);
        CopalProcess.Result s = CopalProcess.Run("synth", "--config", config, "-o", outDir, "--dtype", dtype, "--tokenizer", TestData.Stories260K);
        Assert.True(s.ExitCode == 0, s.Stderr);
        CopalProcess.Result i = CopalProcess.Run("inspect", outDir);
        Assert.True(i.ExitCode == 0, i.Stderr);
        string read = i.Stdout.Split('\n').Single(l => l.StartsWith("config: ", StringComparison.Ordinal))["config: ".Length..];
        Assert.Contains("embeddings ×12.6", read, StringComparison.Ordinal);
        Assert.DoesNotContain("×12.625", read, StringComparison.Ordinal);
        Assert.Contains($"copal: wrote {outDir} ({read}) in {dtype.ToUpperInvariant()}", s.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// A Gemma 3 whose config.json names no dtype scales its embeddings by √hidden in its embedding's dtype, as
    /// transformers loads it ("auto"); `inspect` showed the f32 root (12.649 for √160) of the config alone where the
    /// BF16 model runs with 12.625.
    /// </summary>
    [Fact]
    public void Inspect_describes_a_gemma3_without_a_dtype_by_its_stored_embedding()
    {
        string config = _temp.File("gemma3-nodtype.json");
        File.WriteAllText(config, Gemma3Config); // synth writes its --dtype into the config; removed below
        string outDir = _temp.File("gemma-nodtype");
        CopalProcess.Result s = CopalProcess.Run("synth", "--config", config, "-o", outDir, "--dtype", "bf16", "--tokenizer", TestData.Stories260K);
        Assert.True(s.ExitCode == 0, s.Stderr);
        string written = Path.Combine(outDir, "config.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(written))!.AsObject();
        json.Remove("torch_dtype");
        json.Remove("dtype");
        File.WriteAllText(written, json.ToJsonString());

        CopalProcess.Result i = CopalProcess.Run("inspect", outDir);

        Assert.True(i.ExitCode == 0, i.Stderr);
        Assert.Contains("embeddings ×12.625,", i.Stdout.Split('\n').Single(l => l.StartsWith("config: ", StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    /// <summary>
    /// synth's sizes come from the config alone: one that claims 2^31 layers died of an out-of-memory "bug in copal",
    /// and one of 1 TiB wrote until the disk was full. Both are refused before anything is written.
    /// </summary>
    [Theory]
    [InlineData("\"num_hidden_layers\": 5", "\"num_hidden_layers\": 2147483647", "': num_hidden_layers 2147483647 makes 19327352825 tensors, more than one safetensors file's header (at most 100000000 bytes) can list\n")]
    [InlineData("\"intermediate_size\": 172", "\"intermediate_size\": 2147483647", ": the model (5 layers, F32) takes 7.50 TiB, and its file system has ")]
    public void Synth_refuses_a_config_no_file_or_disk_can_hold_before_writing(string field, string huge, string expected)
    {
        string config = _temp.File("huge.json");
        File.WriteAllText(config, File.ReadAllText(Path.Combine(TestData.Stories260K, "config.json")).Replace(field, huge, StringComparison.Ordinal));
        string outDir = _temp.File("huge");
        CopalProcess.Result r = CopalProcess.Run("synth", "--config", config, "-o", outDir, "--dtype", "f32");
        Assert.True(r.ExitCode == 1, r.Stderr);
        Assert.Contains(expected, r.Stderr, StringComparison.Ordinal);
        Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain(Directory.GetFileSystemEntries(_temp.Path), e => Path.GetFileName(e).Contains("huge", StringComparison.Ordinal) && e != config);
    }

    /// <summary>
    /// A progress line ends on the finished state: synth's, rate-limited, stopped at "[1/21] model.embed_tokens.weight"
    /// when the rest came within the limit, so a finished run looked stuck at its first tensor.
    /// </summary>
    [Fact]
    public void Synth_progress_ends_on_the_last_tensor()
    {
        CopalProcess.Result r = CopalProcess.Run("synth", "--preset", "test-tiny", "-o", _temp.File("s"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        string[] lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("copal: wrote ", lines[^1], StringComparison.Ordinal);
        Assert.Matches(@"^\[(\d+)/\1\] ", lines[^2]);
    }

    // A tokenizer with more tokens than the model's vocabulary has ids without an embedding: refused, naming both sizes.
    [Theory]
    [InlineData("--config", "MODEL", "llama2", 32000, 512)]
    public void Synth_refuses_a_tokenizer_larger_than_the_models_vocabulary(string source, string value, string tokenizer, int tokens, int vocab)
    {
        string Resolve(string v) => v == "MODEL" ? TestData.Stories260K : v == "llama2" ? TestData.Path("tokenizers", "llama2") : v;
        string outDir = _temp.File("s");
        CopalProcess.Result r = CopalProcess.Run("synth", source, Resolve(value), "-o", outDir, "--tokenizer", Resolve(tokenizer));
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        string[] lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith($"copal: error: --tokenizer: '{Resolve(tokenizer)}' has {tokens} tokens, but the model's vocab_size is {vocab}; expected at most {vocab}", lines[0], StringComparison.Ordinal);
        Assert.Equal("Run 'copal synth --help' for the options.", lines[1]);
        Assert.False(Directory.Exists(outDir));
    }

    /// <summary>
    /// A smaller tokenizer is a padded vocabulary (as real models have): synth says so, and sampling from the random
    /// weights never picks an id past the tokenizer (before, generate stopped at the first with an error).
    /// </summary>
    [Fact]
    public void Synth_with_a_smaller_tokenizer_makes_a_padded_model_that_generates()
    {
        string outDir = _temp.File("padded");
        CopalProcess.Result s = CopalProcess.Run("synth", "--preset", "test-tiny", "-o", outDir, "--dtype", "f32", "--tokenizer", TestData.Stories260K);
        Assert.True(s.ExitCode == 0, s.Stderr);
        Assert.Contains("vocab_size 32000 is padded beyond the tokenizer's 512 tokens", s.Stderr, StringComparison.Ordinal);
        CopalProcess.Result g = CopalProcess.Run("generate", "-m", outDir, "-n", "64", "--temperature", "1", "--seed", "5", "--device", "cpu", "--json");
        Assert.True(g.ExitCode == 0, g.Stderr);
        using var doc = System.Text.Json.JsonDocument.Parse(g.Stdout);
        Assert.All(doc.RootElement.GetProperty("ids").EnumerateArray(), id => Assert.InRange(id.GetInt32(), 0, 511));
    }

    [Fact]
    public void Synth_with_a_matching_tokenizer_makes_a_model_that_generates()
    {
        string outDir = _temp.File("tiny");
        CopalProcess.Result s = CopalProcess.Run("synth", "--preset", "test-tiny", "-o", outDir, "--dtype", "f32", "--tokenizer", TestData.Path("tokenizers", "llama2"));
        Assert.True(s.ExitCode == 0, s.Stderr);
        CopalProcess.Result g = CopalProcess.Run("generate", "-m", outDir, "-n", "16", "--temperature", "1", "--device", "cpu", "--json");
        Assert.True(g.ExitCode == 0, g.Stderr);
    }

    /// <summary>
    /// synth's default --tokenizer (../shared/data/tokenizers/llama2 for 32000 tokens) is a path relative to the current
    /// folder. Run anywhere else, the model was written without a tokenizer and the last line said only ", no tokenizer",
    /// so the default's miss was not told: the line now names the default, the folder it was looked for in, and
    /// --tokenizer; --help says the default is relative to the current folder. From the repository (where the tests
    /// run) the default is copied.
    /// </summary>
    [Fact]
    public void Synth_run_where_its_default_tokenizer_is_not_says_so_naming_the_folder_and_the_option()
    {
        string elsewhere = Directory.CreateDirectory(_temp.File("elsewhere")).FullName;
        string outDir = _temp.File("no-tokenizer");
        CopalProcess.Result s = CopalProcess.RunInShell($"cd '{elsewhere}'", "synth", "--preset", "test-tiny", "-o", outDir, "--dtype", "f32");
        Assert.True(s.ExitCode == 0, s.Stderr);
        Assert.False(File.Exists(Path.Combine(outDir, "tokenizer.json")));
        Assert.Contains($", no tokenizer: none given, and the default '{Path.Combine("..", "shared", "data", "tokenizers", "llama2")}' is not in the current folder '{elsewhere}'; " +
            "--tokenizer FOLDER copies one", s.Stderr, StringComparison.Ordinal);
        CopalProcess.Result help = CopalProcess.Run("synth", "--help");
        Assert.Contains("relative to the current folder", System.Text.RegularExpressions.Regex.Replace(help.Stdout, @"\s+", " "), StringComparison.Ordinal);

        string fromRepository = _temp.File("default-tokenizer");
        CopalProcess.Result d = CopalProcess.Run("synth", "--preset", "test-tiny", "-o", fromRepository, "--dtype", "f32");
        Assert.True(d.ExitCode == 0, d.Stderr);
        Assert.True(File.Exists(Path.Combine(fromRepository, "tokenizer.json")));
        Assert.DoesNotContain("no tokenizer", d.Stderr, StringComparison.Ordinal);
    }

    // What the device check and the docs run: every preset has a bundled tokenizer of its vocabulary, the default one.
    [Fact]
    public void Every_preset_has_a_bundled_default_tokenizer_of_its_vocabulary()
    {
        foreach ((string name, Copal.Model.Config.LlamaConfig config) in Copal.Model.Synthetic.SyntheticPresets.All)
        {
            string? tokenizer = SynthCommand.DefaultTokenizerName(config.VocabSize);
            Assert.True(tokenizer is not null, $"{name}: no bundled tokenizer for vocab_size {config.VocabSize}");
            Assert.Equal(config.VocabSize, Copal.Model.Tokenization.CopalTokenizer.FromDirectory(TestData.Path("tokenizers", tokenizer)).VocabSize);
        }
    }

    [Fact]
    public void A_copal_run_records_its_patterns_default_upstream_and_a_resumed_run_keeps_it()
    {
        string Upstream(string dir)
        {
            using JsonDocument manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "copal-state.json")));
            return manifest.RootElement.GetProperty("options").GetProperty("upstream").GetString()!;
        }
        string stderr = "";
        string Prune(string name, params string[] extra)
        {
            string outDir = _temp.File(name);
            CopalProcess.Result r = CopalProcess.Run([.. new[] { "prune", "-m", TestData.Stories260K, "-o", outDir, "--method", "copal",
                "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "32", "--device", "cpu" }, .. extra]);
            Assert.True(r.ExitCode == 0, r.Stderr);
            stderr = r.Stderr;
            return outDir;
        }
        string nm = Prune("copal-2of4", "--pattern", "2:4");
        Assert.Equal("dense-past", Upstream(nm));
        Assert.Equal("pruned", Upstream(Prune("copal-50", "--sparsity", "0.5")));
        Assert.DoesNotContain("resumed state", stderr, StringComparison.Ordinal);
        // A later step at another target keeps the upstream the state was made with, and says so where the kind of
        // sparsity changed and a new state would have taken other defaults.
        Assert.Equal("dense-past", Upstream(Prune("copal-2of4-then-50", "--sparsity", "0.5", "--seed", "2", "--resume", nm)));
        Assert.Contains("copal: the resumed state's last step was pruned to 2:4 and this one to 0.5: the state keeps its upstream dense-past and dense target 0.75, where a new state for 0.5 would take pruned and 0.5",
            stderr, StringComparison.Ordinal);
        Prune("copal-50-then-60", "--sparsity", "0.6", "--seed", "2", "--resume", _temp.File("copal-50"));
        Assert.DoesNotContain("resumed state", stderr, StringComparison.Ordinal); // the same kind: nothing to say
    }

    /// <summary>
    /// The thread count (DOTNET_PROCESSOR_COUNT; prune has no --threads) changes no byte of a COPAL step, a resumed one
    /// included: every parallel loop splits rows or output tiles, never a sum. Windows of 4 × 64 tokens make the Gram
    /// matrices large enough to be split. The manifest differs only in its timestamps.
    /// </summary>
    [Fact]
    public void A_copal_step_and_its_resumed_step_are_the_same_bytes_on_one_thread_and_on_two()
    {
        string Step(int threads, string name, params string[] extra)
        {
            string outDir = _temp.File($"{name}-{threads}");
            CopalProcess.Result r = CopalProcess.RunInShell($"export DOTNET_PROCESSOR_COUNT={threads}", [.. new[] { "prune", "-m", TestData.Stories260K, "-o", outDir,
                "--method", "copal", "--sparsity", "0.5", "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "4", "--seqlen", "64", "--device", "cpu" }, .. extra]);
            Assert.True(r.ExitCode == 0, r.Stderr);
            // The setting took: the report names the CPU's threads.
            Assert.Contains($"\"device\": \"cpu ({threads}-core CPU ({Copal.Tensors.Plural.Of(threads, "thread")}))\"", File.ReadAllText(Path.Combine(outDir, "prune-report.json")), StringComparison.Ordinal);
            return outDir;
        }
        static string WithoutTimes(string manifest) => string.Join('\n', File.ReadAllLines(manifest).Where(l => !l.Contains("_utc\"", StringComparison.Ordinal)));
        foreach (int threads in new[] { 1, 2 })
        {
            Step(threads, "first");
            Step(threads, "second", "--seed", "5", "--resume", _temp.File($"first-{threads}"));
        }
        foreach (string step in new[] { "first", "second" })
        {
            string one = _temp.File($"{step}-1"), two = _temp.File($"{step}-2");
            foreach (string file in new[] { "model.safetensors", "copal-state.safetensors" })
            {
                Assert.True(File.ReadAllBytes(Path.Combine(one, file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(two, file))), $"{step}: {file} differs between 1 and 2 threads");
            }
            Assert.Equal(WithoutTimes(Path.Combine(one, "copal-state.json")), WithoutTimes(Path.Combine(two, "copal-state.json")));
        }
    }

    [Fact]
    public void A_resumed_copal_step_refuses_the_windows_an_earlier_step_folded_in()
    {
        CopalProcess.Result Prune(string name, params string[] extra) => CopalProcess.Run([.. new[] { "prune", "-m", TestData.Stories260K,
            "-o", _temp.File(name), "--method", "copal", "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2",
            "--seqlen", "32", "--device", "cpu", "--sparsity", "0.5" }, .. extra]);
        Assert.Equal(0, Prune("first", "--seed", "3").ExitCode);
        Assert.Equal(0, Prune("second", "--seed", "4", "--resume", _temp.File("first")).ExitCode);
        // Step 1's windows again, two steps on: the same text and seed draw the same token ids.
        CopalProcess.Result again = Prune("third", "--seed", "3", "--resume", _temp.File("second"));
        Assert.Equal(2, again.ExitCode);
        Assert.Contains($"--calib: step 1 of the resumed state already folded in these same windows (2 × 32 tokens of {TestData.Path("text", "tinystories", "calib.txt")}, seed 3)",
            again.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_temp.File("third")));
        // Other windows of the same text are another sample, and are folded in.
        Assert.Equal(0, Prune("third", "--seed", "5", "--resume", _temp.File("second")).ExitCode);
    }

    [Fact]
    public void A_copal_run_records_its_dense_target_and_refuses_a_resume_that_changes_it()
    {
        double DenseTarget(string dir)
        {
            using JsonDocument manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "copal-state.json")));
            return manifest.RootElement.GetProperty("options").GetProperty("dense_target").GetDouble();
        }
        CopalProcess.Result Prune(string name, params string[] extra) => CopalProcess.Run([.. new[] { "prune", "-m", TestData.Stories260K,
            "-o", _temp.File(name), "--method", "copal", "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2",
            "--seqlen", "32", "--device", "cpu", "--sparsity", "0.5" }, .. extra]);
        Assert.Equal(0, Prune("default").ExitCode);
        Assert.Equal(0.5, DenseTarget(_temp.File("default"))); // unstructured sparsity's default
        Assert.Equal(0, Prune("quarter", "--dense-target", "0.25").ExitCode);
        Assert.Equal(0.25, DenseTarget(_temp.File("quarter")));
        // The fixed mask takes no dense target: its default there is 0.
        Assert.Equal(0, Prune("fixed", "--mask", "fixed").ExitCode);
        Assert.Equal(0, DenseTarget(_temp.File("fixed")));
        // Resuming keeps the state's; a different one is named with both values.
        Assert.Equal(0, Prune("quarter-2", "--seed", "2", "--resume", _temp.File("quarter")).ExitCode);
        Assert.Equal(0.25, DenseTarget(_temp.File("quarter-2")));
        CopalProcess.Result changed = Prune("changed", "--resume", _temp.File("quarter"), "--dense-target", "1");
        // A usage error, as for every option the state keeps (and --layers other than the state's): omitting it runs.
        Assert.Equal(2, changed.ExitCode);
        Assert.Contains($"copal: error: --dense-target: the COPAL state in '{Path.Combine(_temp.Path, "quarter", "copal-state.json")}' was built with '0.25' "
            + "(a continual run keeps its options: omit --dense-target to use the state's), got '1'\nRun 'copal prune --help' for the options.\n",
            changed.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_temp.File("changed")));
        foreach ((string[] bad, string expected) in new[]
        {
            (new[] { "--dense-target", "2" }, "--dense-target: expected a share α with 0 ≤ α ≤ 1, got 2"),
            (new[] { "--dense-target", "0.5", "--mask", "fixed" }, "--dense-target: expected 0 unless --accumulate pooled with --mask obs"),
            (new[] { "--dense-target", "0.5", "--upstream", "dense" }, "--dense-target: expected 0 with --upstream dense"),
        })
        {
            CopalProcess.Result r = Prune("bad", bad);
            Assert.Equal(2, r.ExitCode);
            Assert.Contains(expected, r.Stderr, StringComparison.Ordinal);
            Assert.False(Directory.Exists(_temp.File("bad")));
        }
    }

    public void Dispose() => _temp.Dispose();
}
