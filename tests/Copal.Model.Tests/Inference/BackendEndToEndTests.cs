using Copal.Model.Evaluation;
using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// The whole model on each ILGPU backend against the CPU: stories260K's greedy text identical, perplexity within
/// <see cref="Tolerances.PerplexityRelative"/>. The ILGPU CPU accelerator runs everywhere, CI included; the CUDA and
/// OpenCL tests run where ILGPU accepts such a device.
/// </summary>
public sealed class BackendEndToEndTests
{
    private static int[] WikiTextSlice() => CopalTokenizer.FromDirectory(TestData.Stories260K)
        .Encode(TextDataset.Load(TestData.Path("text", "wikitext-2-raw-v1", "test.joined.txt"))[..12000]);

    private static void GreedyTextIsIdentical(string kind)
    {
        string spec = DeviceFactAttribute.SpecFor(kind, out _)!;
        using IBackend device = BackendFactory.Create(spec);
        using var cpu = new CpuBackend();
        using LlamaModel onDevice = LlamaModel.Load(TestData.Stories260K, device);
        using LlamaModel onCpu = LlamaModel.Load(TestData.Stories260K, cpu);
        var stops = new HashSet<int> { 1 };
        IReadOnlyList<int> expected = new Generator(onCpu).Generate([1], 256, SamplingOptions.Greedy, stops).GeneratedIds;
        AssertEveryChoiceIsDecisive(onCpu, expected);
        IReadOnlyList<int> actual = new Generator(onDevice).Generate([1], 256, SamplingOptions.Greedy, stops).GeneratedIds;
        Assert.Equal(expected, actual);
    }

    /// <summary>
    /// Every greedy choice of the CPU's run wins by more than <see cref="Tolerances.GreedyMargin"/> (the closest, at
    /// step 185, by about 0.004). A device sums in other orders and, on a GPU, takes exp from the hardware's
    /// approximate ex2; its logits within <see cref="Tolerances.LogitsAbsolute"/> must then make the same choices, so
    /// a different text means a real error, never a near tie decided the other way.
    /// </summary>
    private static void AssertEveryChoiceIsDecisive(LlamaModel model, IReadOnlyList<int> generated)
    {
        using RunState state = model.CreateState(1, 1 + generated.Count);
        model.Forward(state, [1], 0, LogitsMode.Last);
        for (int i = 0; i < generated.Count; i++)
        {
            Tolerances.AssertDecisive(model.ReadLogits(state), generated[i], $"greedy step {i} of the CPU's run");
            if (i + 1 < generated.Count)
            {
                model.Forward(state, [generated[i]], 1 + i, LogitsMode.Last);
            }
        }
    }

    private static void PerplexityAgrees(string kind)
    {
        string spec = DeviceFactAttribute.SpecFor(kind, out _)!;
        int[] tokens = WikiTextSlice();
        // ILGPU's CPU accelerator takes about 12 s a window of 512 on two cores; two windows keep CI short.
        var options = new PerplexityOptions(512) { LimitChunks = kind == "ilgpu-cpu" ? 2 : 4 };
        using IBackend device = BackendFactory.Create(spec);
        using var cpu = new CpuBackend();
        using LlamaModel onDevice = LlamaModel.Load(TestData.Stories260K, device);
        using LlamaModel onCpu = LlamaModel.Load(TestData.Stories260K, cpu);
        double expected = PerplexityEvaluator.Evaluate(onCpu, tokens, options).Perplexity;
        double actual = PerplexityEvaluator.Evaluate(onDevice, tokens, options).Perplexity;
        Assert.True(Math.Abs(actual - expected) <= Tolerances.PerplexityRelative * expected, $"{kind} ppl {actual:R}, CPU {expected:R}");
    }

    [DeviceFact("ilgpu-cpu")]
    public void Ilgpu_cpu_greedy_text_is_identical() => GreedyTextIsIdentical("ilgpu-cpu");

    [DeviceFact("ilgpu-cpu")]
    public void Ilgpu_cpu_perplexity_agrees_with_the_cpu() => PerplexityAgrees("ilgpu-cpu");

    [DeviceFact("opencl")]
    public void OpenCL_greedy_text_is_identical() => GreedyTextIsIdentical("opencl");

    [DeviceFact("opencl")]
    public void OpenCL_perplexity_agrees_with_the_cpu() => PerplexityAgrees("opencl");

    [DeviceFact("cuda")]
    public void Cuda_greedy_text_is_identical() => GreedyTextIsIdentical("cuda");

    [DeviceFact("cuda")]
    public void Cuda_perplexity_agrees_with_the_cpu() => PerplexityAgrees("cuda");
}
