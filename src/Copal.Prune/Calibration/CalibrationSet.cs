using System.Security.Cryptography;
using Copal.Model.Evaluation;
using Copal.Model.Generation;
using Copal.Model.Tokenization;

namespace Copal.Prune.Calibration;

/// <summary>
/// The calibration samples: <c>nsamples</c> windows of <c>seqlen</c> tokens drawn at seeded random offsets from
/// text files, as the reference code draws them from C4. Each file is tokenized once as a whole; with several
/// files, sample i comes from file i mod F, so every source gets an equal share.
/// </summary>
public sealed class CalibrationSet
{
    private CalibrationSet(IReadOnlyList<int[]> samples, IReadOnlyList<string> sources, int seqLen, ulong seed, string hash)
    {
        Samples = samples;
        Sources = sources;
        SeqLen = seqLen;
        Seed = seed;
        Hash = hash;
    }

    /// <summary>Each sample's token ids. // nsamples × [seqlen]</summary>
    public IReadOnlyList<int[]> Samples { get; }
    public IReadOnlyList<string> Sources { get; }
    public int SeqLen { get; }
    public ulong Seed { get; }
    /// <summary>SHA-256 of the sampled token ids: identifies the exact calibration data in reports and states.</summary>
    public string Hash { get; }
    public long Tokens => (long)Samples.Count * SeqLen;

    /// <summary>Draws the samples from <paramref name="files"/>.</summary>
    public static CalibrationSet FromFiles(Tokenizer tokenizer, IReadOnlyList<string> files, int nsamples, int seqLen, ulong seed, TextLayout layout = TextLayout.Raw)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(files);
        if (files.Count == 0)
        {
            throw new ArgumentException("--calib needs at least one text file", nameof(files));
        }
        var tokenized = files.Select(f => (File: f, Ids: TextDataset.Tokenize(tokenizer, f, layout))).ToList();
        return FromTokens(tokenized, nsamples, seqLen, seed);
    }

    /// <summary>Draws the samples from already tokenized sources (name, ids).</summary>
    public static CalibrationSet FromTokens(IReadOnlyList<(string Name, int[] Ids)> sources, int nsamples, int seqLen, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentOutOfRangeException.ThrowIfLessThan(nsamples, 1, "--nsamples");
        ArgumentOutOfRangeException.ThrowIfLessThan(seqLen, 2, "--seqlen");
        foreach ((string name, int[] ids) in sources)
        {
            if (ids.Length <= seqLen)
            {
                throw new ArgumentException($"calibration text '{name}' has {ids.Length} tokens; one window of --seqlen {seqLen} needs at least {seqLen + 1}");
            }
        }
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
        return new CalibrationSet(samples, sources.Select(s => s.Name).ToList(), seqLen, seed, Convert.ToHexStringLower(sha.GetHashAndReset()));
    }
}
