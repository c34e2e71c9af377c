using System.Security.Cryptography;
using Copal.Model.Evaluation;
using Copal.Model.Generation;
using Copal.Model.Tokenization;
using Copal.Tensors;

namespace Copal.Prune.Calibration;

/// <summary>
/// The calibration samples: <c>nsamples</c> windows of <c>seqlen</c> tokens drawn at seeded random offsets from
/// text files, as the reference code draws them from C4. Each file is tokenized once as a whole; with several
/// files, sample i comes from file i mod F, so every source gets an equal share. A source is asked for at most as
/// many windows as it holds without overlap (<see cref="WindowsIn"/>): more would only repeat its tokens while the
/// activations grow with every sample.
/// </summary>
public sealed class CalibrationSet
{
    private CalibrationSet(IReadOnlyList<int[]> samples, IReadOnlyList<string> sources, int seqLen, ulong seed, string hash, int maxSamples)
    {
        Samples = samples;
        Sources = sources;
        SeqLen = seqLen;
        Seed = seed;
        Hash = hash;
        MaxSamples = maxSamples;
    }

    /// <summary>
    /// No calibration data, for a pruner that needs none (magnitude): one two-token window of BOS ids, only to drive
    /// the layer loop. Reports show no calibration for it, and layer output errors, which would be measured on it,
    /// are not measured.
    /// </summary>
    public static CalibrationSet None(int bosId = 1) => new([[bosId, bosId]], [], 2, 0, "none", 1) { HasData = false };

    /// <summary>False for <see cref="None"/>: the samples are not data and say nothing about the model.</summary>
    public bool HasData { get; private init; } = true;

    /// <summary>Each sample's token ids. // nsamples × [seqlen]</summary>
    public IReadOnlyList<int[]> Samples { get; }
    /// <summary>Where the samples came from: the text files as given (<see cref="FromFiles"/>) or the source names (<see cref="FromTokens"/>); empty for <see cref="None"/>.</summary>
    public IReadOnlyList<string> Sources { get; }
    /// <summary>Tokens per sample (window), ≥ 2.</summary>
    public int SeqLen { get; }
    /// <summary>The seed the window offsets were drawn with (<see cref="Pcg32"/>): the same sources, counts and seed give the same samples.</summary>
    public ulong Seed { get; }
    /// <summary>SHA-256 of the sampled token ids: identifies the exact calibration data in reports and states.</summary>
    public string Hash { get; }
    /// <summary>Tokens over all samples: samples × <see cref="SeqLen"/>.</summary>
    public long Tokens => (long)Samples.Count * SeqLen;

    /// <summary>The most samples of <see cref="SeqLen"/> the sources can give (see <see cref="MaxSamplesFrom"/>).</summary>
    public int MaxSamples { get; }

    /// <summary>
    /// Non-overlapping windows of <paramref name="seqLen"/> a text of <paramref name="tokens"/> tokens holds. As the
    /// reference draws them (start in [0, len − seqlen − 1]) a window never uses the last token: ⌊(len − 1) / seqlen⌋.
    /// </summary>
    public static int WindowsIn(long tokens, int seqLen)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(seqLen, 1);
        return tokens <= seqLen ? 0 : (int)Math.Min(int.MaxValue, (tokens - 1) / seqLen);
    }

    /// <summary>
    /// The most samples sources of these token counts can give when sample i comes from source i mod F and no source
    /// gives more than <see cref="WindowsIn"/>: min over sources f of windows_f · F + f.
    /// </summary>
    public static int MaxSamplesFrom(IReadOnlyList<long> sourceTokens, int seqLen)
    {
        ArgumentNullException.ThrowIfNull(sourceTokens);
        long best = int.MaxValue;
        for (int f = 0; f < sourceTokens.Count; f++)
        {
            best = Math.Min(best, ((long)WindowsIn(sourceTokens[f], seqLen) * sourceTokens.Count) + f);
        }
        return (int)best;
    }

    /// <summary>
    /// Refuses, before any work, a request the sources cannot give: a source shorter than one window, or asked for
    /// more windows than it holds without overlap. The message names --nsamples, --seqlen, the source and the numbers.
    /// </summary>
    /// <exception cref="CalibrationLimitException">The sources cannot give <paramref name="nsamples"/> windows of <paramref name="seqLen"/>.</exception>
    public static void RequireWindows(IReadOnlyList<(string Name, long Tokens)> sources, int nsamples, int seqLen)
    {
        ArgumentNullException.ThrowIfNull(sources);
        RequireDescribedWindows([.. sources.Select(s => ($"calibration text '{s.Name}'", s.Tokens))], nsamples, seqLen);
    }

    /// <summary>
    /// As <see cref="RequireWindows"/>, with each source named by the whole phrase given, e.g. "calibration text
    /// 'wiki.txt' (first half) of 'wiki'": a continual dataset's text is a file, or half of one, under the dataset's name.
    /// </summary>
    /// <exception cref="CalibrationLimitException">The sources cannot give <paramref name="nsamples"/> windows of <paramref name="seqLen"/>.</exception>
    public static void RequireDescribedWindows(IReadOnlyList<(string Description, long Tokens)> sources, int nsamples, int seqLen)
    {
        ArgumentNullException.ThrowIfNull(sources);
        int count = sources.Count;
        for (int f = 0; f < count; f++)
        {
            (string described, long tokens) = sources[f];
            if (tokens <= seqLen)
            {
                throw new CalibrationLimitException($"{described} has {Plural.Of(tokens, "token")}; one window of --seqlen {seqLen} needs at least {seqLen + 1}");
            }
            int asked = (nsamples / count) + (f < nsamples % count ? 1 : 0);
            int windows = WindowsIn(tokens, seqLen);
            if (asked > windows)
            {
                int maxSamples = MaxSamplesFrom(sources.Select(s => s.Tokens).ToList(), seqLen);
                long longestSeqLen = (tokens - 1) / asked;
                string share = count > 1 ? $" (its share of {count} texts)" : "";
                string orSeqLen = longestSeqLen >= 2 ? FormattableString.Invariant($" or --seqlen ≤ {longestSeqLen}") : "";
                throw new CalibrationLimitException(FormattableString.Invariant(
                    $"--nsamples {nsamples} × --seqlen {seqLen} asks {described} for {Plural.Of(asked, "window")}{share}, {(long)asked * seqLen:N0} tokens, but its {tokens:N0} tokens give at most {Plural.Of(windows, "non-overlapping window")} of {seqLen}: use --nsamples ≤ {maxSamples}{orSeqLen}, or more text"));
            }
        }
    }

    /// <summary>Draws the samples from <paramref name="files"/>.</summary>
    public static CalibrationSet FromFiles(CopalTokenizer tokenizer, IReadOnlyList<string> files, int nsamples, int seqLen, ulong seed, TextLayout layout = TextLayout.Raw,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(files);
        if (files.Count == 0)
        {
            throw new ArgumentException("--calib needs at least one text file", nameof(files));
        }
        // A file is tokenized whole; the token is checked before each word.
        var tokenized = new List<(string File, int[] Ids)>(files.Count);
        foreach (string f in files)
        {
            tokenized.Add((f, TextDataset.Tokenize(tokenizer, f, layout, null, cancellationToken)));
        }
        return FromTokens(tokenized, nsamples, seqLen, seed);
    }

    /// <summary>Draws the samples from already tokenized sources (name, ids).</summary>
    public static CalibrationSet FromTokens(IReadOnlyList<(string Name, int[] Ids)> sources, int nsamples, int seqLen, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(sources);
        if (sources.Count == 0)
        {
            // Sample i comes from source i mod F: there must be one.
            throw new ArgumentException("expected at least one calibration source, got none", nameof(sources));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(nsamples, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(seqLen, 2);
        RequireWindows(sources.Select(s => (s.Name, (long)s.Ids.Length)).ToList(), nsamples, seqLen);
        var rng = new Pcg32(seed);
        var samples = new List<int[]>(nsamples);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (int i = 0; i < nsamples; i++)
        {
            int[] ids = sources[i % sources.Count].Ids;
            // As the reference: start uniformly in [0, len − seqlen − 1].
            int start = rng.NextInt(ids.Length - seqLen);
            int[] window = ids.AsSpan(start, seqLen).ToArray();
            samples.Add(window);
            sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(window.AsSpan()));
        }
        return new CalibrationSet(samples, sources.Select(s => s.Name).ToList(), seqLen, seed, Convert.ToHexStringLower(sha.GetHashAndReset()),
            MaxSamplesFrom(sources.Select(s => (long)s.Ids.Length).ToList(), seqLen));
    }
}
