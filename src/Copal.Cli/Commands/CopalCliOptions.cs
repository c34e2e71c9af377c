using System.CommandLine;
using Copal.Cli.Infrastructure;
using Copal.Prune;
using Copal.Prune.Continual;

namespace Copal.Cli.Commands;

/// <summary>The COPAL options of <c>copal prune</c> and the checks of how they combine with --method.</summary>
internal sealed class CopalCliOptions
{
    private CopalCliOptions()
    {
    }

    public Option<string?> State { get; } = new Option<string?>("--state") { Description = "COPAL: also write the continual state (copal-state.safetensors + copal-state.json) to this folder" }.Folder();
    public Option<string?> Resume { get; } = new Option<string?>("--resume") { Description = "COPAL: continue the run whose state is in this folder (a previous --out or --state); --model must be the same dense parent" }.Path();
    public Option<string?> Sensitivity { get; } = new Option<string?>("--sensitivity") { Description = "COPAL: output (w²·E[x²], default) or hessian (w²/[H⁻¹]_jj)" }
        .Accept(OptionRules.ByLibrary(v => CopalOptions.ParseSensitivity(v)));
    public Option<string?> Accumulate { get; } = new Option<string?>("--accumulate") { Description = "COPAL: pooled (default: token-weighted column moments and Gram matrices, pooled calibration without stored data), or sum or max of the per-dataset normalized sensitivities" }
        .Accept(OptionRules.ByLibrary(v => CopalOptions.ParseAccumulation(v)));
    public Option<double?> Decay { get; } = new Option<double?>("--decay") { Description = "COPAL: γ in (0, 1], S_t = γ·S_{t−1} + ŝ_t (default 1)" }
        .Accept(DecayIsValid, DecayExpected);
    public Option<bool> Update { get; } = new("--update") { Description = "COPAL --mask fixed: reconstruct kept weights (OBS with the COPAL mask and the accumulated Hessian)" };
    public Option<string?> Mask { get; } = new Option<string?>("--mask") { Description = "COPAL: obs (default: SparseGPT's sweep with the accumulated Hessian, mask chosen on the updated weights) or fixed (mask from w²·S_j on the dense weights; the default with --update)" }
        .Accept(OptionRules.ByLibrary(v => CopalOptions.ParseMask(v)));

    public Option<string?> Upstream { get; } = UpstreamOption();
    public Option<double?> DenseTarget { get; } = DenseTargetOption();

    /// <summary>--dense-target, for prune and continual.</summary>
    internal static Option<double?> DenseTargetOption() => new Option<double?>("--dense-target")
    {
        Description = "COPAL --mask obs: the share α in [0, 1] of the dense model's output in each linear's reconstruction target (asymmetric calibration: 0 is SparseGPT's own-output target, 1 the dense model's); default with --accumulate pooled --mask obs and an upstream other than dense 0.5 for unstructured sparsity and 0.75 for N:M, else 0",
    }.Accept(DenseTargetIsValid, DenseTargetExpected);

    /// <summary>--dense-target's range, for prune and continual.</summary>
    internal static bool DenseTargetIsValid(double share) => share >= 0 && share <= 1;

    internal const string DenseTargetExpected = "a share α with 0 ≤ α ≤ 1";

    /// <summary>--upstream, for prune and continual.</summary>
    internal static Option<string?> UpstreamOption() => new Option<string?>("--upstream")
    {
        Description = "COPAL: where the statistics come from. pruned (the default for unstructured sparsity: every dataset through the layers as pruned at its own step), dense-past (the default for N:M with --accumulate pooled --mask obs: this dataset through the layers as pruned in this step, the earlier ones through the dense layers), mixed (as dense-past, with the earlier ones as the mean of their statistics through the dense layers and through the layers as pruned at their own step) or dense (every dataset through the dense layers)",
    }.Accept(OptionRules.ByLibrary(v => CopalOptions.ParseUpstream(v)));

    /// <summary>--decay's range, for prune and continual.</summary>
    internal static bool DecayIsValid(double decay) => decay > 0 && decay <= 1;

    internal const string DecayExpected = "a factor γ with 0 < γ ≤ 1";

    /// <summary>--update and --mask obs do not go together: the OBS sweep already reconstructs the kept weights.</summary>
    internal static void CheckUpdateWithMask(bool update, string? mask)
    {
        if (update && mask is not null && CopalOptions.ParseMask(mask) == CopalMaskRule.Obs)
        {
            throw new UsageException("--update applies to --mask fixed; with --mask obs the OBS sweep already reconstructs the kept weights");
        }
    }

    public static CopalCliOptions Create() => new();

    private static bool IsCopal(string method) => string.Equals(method, "copal", StringComparison.OrdinalIgnoreCase);

    public void AddTo(Command command)
    {
        command.Options.Add(State);
        command.Options.Add(Resume);
        command.Options.Add(Sensitivity);
        command.Options.Add(Accumulate);
        command.Options.Add(Decay);
        command.Options.Add(Update);
        command.Options.Add(Mask);
        command.Options.Add(Upstream);
        command.Options.Add(DenseTarget);
    }

    /// <summary>
    /// The usage errors of the COPAL options, checked before any path is: a COPAL option with another --method, and
    /// --update with --mask obs.
    /// </summary>
    public void Check(ParseResult p, string method)
    {
        var given = new List<string>();
        void Note(bool present, string name)
        {
            if (present)
            {
                given.Add(name);
            }
        }
        Note(p.GetValue(State) is not null, "--state");
        Note(p.GetValue(Resume) is not null, "--resume");
        Note(p.GetValue(Sensitivity) is not null, "--sensitivity");
        Note(p.GetValue(Accumulate) is not null, "--accumulate");
        Note(p.GetValue(Decay) is not null, "--decay");
        Note(p.GetValue(Update), "--update");
        Note(p.GetValue(Mask) is not null, "--mask");
        Note(p.GetValue(Upstream) is not null, "--upstream");
        Note(p.GetValue(DenseTarget) is not null, "--dense-target");
        if (!IsCopal(method))
        {
            if (given.Count > 0)
            {
                throw UsageException.ApplyOnly(given, $"to --method copal (got --method {method})");
            }
            return;
        }
        CheckUpdateWithMask(p.GetValue(Update), p.GetValue(Mask));
        if (p.GetValue(Resume) is string resume)
        {
            Inputs.RefuseStdio(resume, p.Typed(Resume), "the folder of the step to resume");
        }
    }

    /// <summary>The COPAL state for this run (new or resumed), or null for the other methods (which reject the COPAL options).</summary>
    public CopalState? StateFor(ParseResult p, string method, string modelDirectory, SparsityPattern pattern, CancellationToken cancellationToken)
    {
        Check(p, method);
        if (!IsCopal(method))
        {
            return null;
        }
        var choices = new CopalOptionChoices(
            p.GetValue(Sensitivity) is string s ? CopalOptions.ParseSensitivity(s) : null,
            p.GetValue(Accumulate) is string a ? CopalOptions.ParseAccumulation(a) : null,
            p.GetValue(Decay),
            p.GetValue(Update) ? true : null,
            p.GetValue(Mask) is string m ? CopalOptions.ParseMask(m) : null,
            p.GetValue(Upstream) is string u ? CopalOptions.ParseUpstream(u) : null,
            p.GetValue(DenseTarget));
        return CopalRun.StartOrResume(modelDirectory, p.GetValue(Resume), choices, pattern, cancellationToken);
    }
}
