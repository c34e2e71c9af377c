namespace Copal.Prune.Continual;

/// <summary>The content of copal-state.json: what the state is, where it came from and how it was made.</summary>
/// <param name="Format">Always "copal-state".</param>
/// <param name="FormatVersion">Bumped on any incompatible change of the files; a loader refuses other versions.</param>
/// <param name="ParentHash">The dense parent's <see cref="Continual.ParentHash"/>.</param>
/// <param name="ParentHashScheme">What that hash covers.</param>
/// <param name="ParentModel">The parent folder as it was given when the state was last written (informational).</param>
/// <param name="Options">The COPAL options; fixed for the whole run.</param>
/// <param name="Datasets">The datasets seen, in order.</param>
/// <param name="Hessian">"none" or "upper" (full Hessians stored as upper triangles, f32): what the tensors file holds besides the column sensitivities.</param>
/// <param name="Linears">Every linear in the state with its weight shape.</param>
/// <param name="CreatedUtc">When the run started (ISO 8601).</param>
/// <param name="UpdatedUtc">When this file was written (ISO 8601).</param>
internal sealed record CopalStateManifest(
    string Format,
    int FormatVersion,
    string ParentHash,
    string ParentHashScheme,
    string ParentModel,
    CopalManifestOptions Options,
    IReadOnlyList<CopalStepRecord> Datasets,
    string Hessian,
    IReadOnlyList<CopalLinearRecord> Linears,
    string CreatedUtc,
    string UpdatedUtc);

/// <summary>The options as stored (names as on the command line). A manifest without <c>mask</c> or <c>upstream</c>
/// (written before the option existed) is read as "fixed" or "pruned", one without <c>dense_target</c> as 0: the only
/// choice there was then.</summary>
/// <param name="Sensitivity">"output" or "hessian" (<see cref="CopalOptions.Sensitivity"/>).</param>
/// <param name="Accumulate">"sum", "max" or "pooled" (<see cref="CopalOptions.Accumulate"/>).</param>
/// <param name="Decay">γ (<see cref="CopalOptions.Decay"/>).</param>
/// <param name="Update">Whether the kept weights are reconstructed (<see cref="CopalOptions.Update"/>).</param>
/// <param name="PercentDamp">The Hessian dampening fraction (<see cref="CopalOptions.PercentDamp"/>).</param>
/// <param name="Mask">"fixed" or "obs" (<see cref="CopalOptions.Mask"/>).</param>
/// <param name="Upstream">The statistics' upstream, as its option name (<see cref="CopalOptions.Upstream"/>).</param>
/// <param name="DenseTarget">α (<see cref="CopalOptions.DenseTarget"/>).</param>
public sealed record CopalManifestOptions(string Sensitivity, string Accumulate, double Decay, bool Update, double PercentDamp, string? Mask = "fixed", string? Upstream = "pruned",
    double DenseTarget = 0);

/// <summary>One dataset folded into the state: its calibration sample identity and the pattern pruned to.</summary>
/// <param name="Step">The step's number, from 1.</param>
/// <param name="Sources">The calibration texts, as given.</param>
/// <param name="CalibrationHash">SHA-256 (hex) of the step's sampled token ids.</param>
/// <param name="NSamples">Windows drawn.</param>
/// <param name="SeqLen">Tokens per window.</param>
/// <param name="Seed">The seed of the window offsets.</param>
/// <param name="Pattern">The sparsity pattern pruned to, as text ("0.5", "2:4").</param>
/// <param name="PrunedUtc">When the step was folded in, UTC, ISO 8601.</param>
public sealed record CopalStepRecord(int Step, IReadOnlyList<string> Sources, string CalibrationHash, int NSamples, int SeqLen, ulong Seed, string Pattern, string PrunedUtc);

/// <summary>One linear of the state: the weight's name and [rows, cols].</summary>
/// <param name="Name">The weight's tensor name.</param>
/// <param name="Rows">Output features.</param>
/// <param name="Cols">Input features.</param>
internal sealed record CopalLinearRecord(string Name, int Rows, int Cols);
