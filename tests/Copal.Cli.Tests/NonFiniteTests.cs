using System.Buffers.Binary;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// NaN or Inf in the weights is refused at load, naming the tensor and the first index; --allow-nonfinite loads it
/// anyway, and then non-finite logits stop the run with an error naming the step instead of printing garbage.
/// </summary>
public sealed class NonFiniteTests : IDisposable
{
    private const string Tensor = "model.layers.2.mlp.up_proj.weight"; // [172, 64] F32
    private readonly TempDir _temp = new("copal-nan-");
    private readonly string _model;

    public NonFiniteTests()
    {
        _model = _temp.File("model");
        Directory.CreateDirectory(_model);
        foreach (string f in Directory.GetFiles(TestData.Stories260K))
        {
            File.Copy(f, Path.Combine(_model, Path.GetFileName(f)));
        }
        // [3, 5] and, later in the same tensor, [100, 0]: the first is the one to report.
        SetElement(_model, Tensor, (3 * 64) + 5, float.NaN);
        SetElement(_model, Tensor, 100 * 64, float.PositiveInfinity);
    }

    private static void AssertError(CopalProcess.Result r, params string[] expected)
    {
        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stdout: {r.Stdout}; stderr: {r.Stderr}");
        foreach (string e in expected)
        {
            Assert.Contains(e, r.Stderr, StringComparison.Ordinal);
        }
        Assert.DoesNotContain("(Parameter", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Loading_refuses_non_finite_weights_naming_the_tensor_and_the_first_index()
    {
        string[] expected = [$"tensor '{Tensor}' holds NaN at [3, 5]", "--allow-nonfinite"];
        AssertError(CopalProcess.Run("generate", "-m", _model, "-n", "3", "--device", "cpu"), expected);
        AssertError(CopalProcess.Run("perplexity", "-m", _model, "--data", TestData.Path("text", "tinystories", "eval.txt"),
            "--seqlen", "64", "--limit-chunks", "1", "--device", "cpu"), expected);
        AssertError(CopalProcess.Run("prune", "-m", _model, "-o", _temp.File("out"), "--method", "magnitude", "--sparsity", "0.5", "--device", "cpu"), expected);
        Assert.False(Directory.Exists(_temp.File("out")));
    }

    /// <summary>
    /// bench, bench serve and continual have no --allow-nonfinite (they would only stop at the first non-finite
    /// logits): their refusal names the tensor and the index, and does not advise an option they refuse as unknown.
    /// </summary>
    [Fact]
    public void Commands_without_allow_nonfinite_refuse_the_weights_without_advising_it()
    {
        string calib = TestData.Path("text", "tinystories", "calib.txt"), eval = TestData.Path("text", "tinystories", "eval.txt");
        string[][] commands =
        [
            ["bench", "-m", _model, "--prefill", "8", "--decode", "4", "--repeat", "1", "--device", "cpu"],
            ["bench", "serve", "-m", _model, "--streams", "2", "--prompt-tokens", "4", "--decode", "4", "--repeat", "1", "--device", "cpu"],
            ["continual", "-m", _model, "--datasets", $"a={calib}:{eval}", "--methods", "magnitude", "--sparsity", "0.5",
                "--nsamples", "2", "--seqlen", "64", "--eval-limit-chunks", "1", "--no-joint", "-o", _temp.File("report"), "--device", "cpu"],
        ];
        foreach (string[] args in commands)
        {
            CopalProcess.Result r = CopalProcess.Run(args);
            AssertError(r, $"tensor '{Tensor}' holds NaN at [3, 5]");
            Assert.DoesNotContain("--allow-nonfinite", r.Stderr, StringComparison.Ordinal);
        }
        Assert.False(Directory.Exists(_temp.File("report")));
    }

    /// <summary>
    /// The prompt was streamed before the failing step: its line is ended, as a finished run's is, so on a terminal the
    /// error starts a line of its own.
    /// </summary>
    /// <summary>A chat prints the reply alone: failing at the prefill, before any reply, it has no line to end.</summary>
    [Fact]
    public void A_chat_that_fails_before_its_reply_writes_nothing_to_stdout()
    {
        File.WriteAllText(Path.Combine(_model, "tokenizer_config.json"), System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["chat_template"] = "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}assistant:",
            ["bos_token"] = "<s>",
            ["eos_token"] = "</s>",
        }));
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", _model, "--chat", "-p", "Lily", "-n", "3", "--allow-nonfinite", "--device", "cpu");
        AssertError(r, "non-finite logits", "prefill");
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public void Allowed_non_finite_weights_stop_generation_at_the_first_bad_step()
    {
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", _model, "-p", "Lily", "-n", "3", "--allow-nonfinite", "--device", "cpu");
        AssertError(r, "non-finite logits", "prefill");
        Assert.Equal("Lily\n", r.Stdout);
    }

    [Fact]
    public void Allowed_non_finite_weights_stop_perplexity_naming_the_window()
    {
        AssertError(CopalProcess.Run("perplexity", "-m", _model, "--data", TestData.Path("text", "tinystories", "eval.txt"),
            "--seqlen", "64", "--limit-chunks", "2", "--allow-nonfinite", "--device", "cpu"), "non-finite logits", "window 1 of 2");
    }

    [Fact]
    public void Allowed_non_finite_weights_fail_pruning_naming_the_tensor()
    {
        AssertError(CopalProcess.Run("prune", "-m", _model, "-o", _temp.File("out"), "--method", "magnitude", "--sparsity", "0.5",
            "--allow-nonfinite", "--device", "cpu"), $"'{Tensor}'", "NaN", "[3, 5]");
        Assert.False(Directory.Exists(_temp.File("out")));
        // Without the layer error magnitude prunes a layer's linears in parallel, with no forward pass. With a second
        // bad linear in the layer, either may fail first, and the error is still one line about one of them.
        SetElement(_model, "model.layers.2.mlp.gate_proj.weight", 7, float.NegativeInfinity);
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", _model, "-o", _temp.File("out"), "--method", "magnitude", "--sparsity", "0.5",
            "--no-layer-error", "--allow-nonfinite", "--device", "cpu");
        AssertError(r, "model.layers.2.mlp.");
        Assert.Matches(@"tensor 'model\.layers\.2\.mlp\.(up|gate)_proj\.weight' holds (NaN at \[3, 5\]|-Inf at \[0, 7\])", r.Stderr);
        Assert.DoesNotContain("One or more errors", r.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_temp.File("out")));
    }

    /// <summary>Overwrites element <paramref name="index"/> of an F32 tensor of <paramref name="model"/> in place.</summary>
    private static void SetElement(string model, string tensor, long index, float value) =>
        CheckpointBytes.EditF32Tensor(model, tensor, (bytes, start) => BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(checked((int)(start + (index * 4)))), value));

    public void Dispose() => _temp.Dispose();
}
