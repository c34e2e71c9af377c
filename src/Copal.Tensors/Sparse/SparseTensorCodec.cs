using System.Globalization;

namespace Copal.Tensors.Sparse;

/// <summary>One stored tensor of a sparse weight: its safetensors name, dtype, shape and bytes.</summary>
/// <remarks><see cref="Data"/> points into the matrix's memory and is valid while the matrix lives.</remarks>
/// <param name="Name">The part's tensor name: the weight's name and a suffix such as <see cref="SparseTensorCodec.NMValuesSuffix"/>.</param>
/// <param name="DType">The part's stored dtype.</param>
/// <param name="Shape">The part's stored shape.</param>
/// <param name="Data">The part's bytes.</param>
public sealed record SparsePart(string Name, DType DType, long[] Shape, ReadOnlyMemory<byte> Data);

/// <summary>What a sparse weight stores: its tensors and the file metadata entry that describes them.</summary>
/// <param name="Parts">The tensors to store, in the order to write them.</param>
/// <param name="Metadata">The file metadata entry: key <see cref="SparseTensorCodec.MetadataPrefix"/> + the weight's name.</param>
public sealed record SparseEncoding(IReadOnlyList<SparsePart> Parts, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// Maps sparse matrices to safetensors tensors and back (layout in docs/sparse-formats.md). For a weight X:
/// N:M stores <c>X.nm_values</c> [rows, cols/M·N] and <c>X.nm_index</c> U8: either the bit fields
/// [rows, ⌈cols/M·N·⌈log2 M⌉/8⌉] (<c>index=fields</c>) or pattern ranks [rows, ⌈groups/K⌉] (<c>index=rank</c>,
/// <see cref="NMRankCode"/>; 2:4 packs three groups per byte); bitmask stores <c>X.bm_mask</c> U8 [rows, ⌈cols/8⌉], <c>X.bm_offsets</c> I64 [rows + 1] and <c>X.bm_values</c> [nnz].
/// The file metadata entry <c>copal.sparse.X</c> = <c>format=nm;n=2;m=4;index=rank;rows=R;cols=C;dtype=BF16</c> (or
/// <c>format=bitmask;rows=R;cols=C;dtype=BF16</c>) says X is sparse and how to read it; dtype is F32, BF16 or F16.
/// </summary>
public static class SparseTensorCodec
{
    /// <summary>Prefix of the metadata key naming a sparse weight.</summary>
    public const string MetadataPrefix = "copal.sparse.";

    /// <summary>Suffix of an N:M weight's values part [rows, cols/M·N].</summary>
    public const string NMValuesSuffix = ".nm_values";
    /// <summary>Suffix of an N:M weight's index part (U8).</summary>
    public const string NMIndexSuffix = ".nm_index";
    /// <summary>Suffix of a bitmask weight's mask part, U8 [rows, ⌈cols/8⌉].</summary>
    public const string MaskSuffix = ".bm_mask";
    /// <summary>Suffix of a bitmask weight's row offsets part, I64 [rows + 1].</summary>
    public const string OffsetsSuffix = ".bm_offsets";
    /// <summary>Suffix of a bitmask weight's values part [nnz].</summary>
    public const string BitmaskValuesSuffix = ".bm_values";

    /// <summary>The stored parts of each format, as suffixes of the weight's name.</summary>
    private static readonly string[] NMSuffixes = [NMValuesSuffix, NMIndexSuffix], BitmaskSuffixes = [MaskSuffix, OffsetsSuffix, BitmaskValuesSuffix];

    /// <summary>Metadata value <c>index=fields</c>: N:M indices stored as the in-memory bit fields (also assumed when absent).</summary>
    public const string FieldsIndex = "fields";

    /// <summary>Metadata value <c>index=rank</c>: N:M indices stored as pattern ranks, several groups per byte.</summary>
    public const string RankIndex = "rank";

    /// <summary>
    /// The tensors and metadata entry that store <paramref name="matrix"/>. Values and bitmask parts point into the
    /// matrix (no copy); N:M indices are stored as pattern ranks (a new array) wherever that is smaller, unless
    /// <paramref name="nmIndex"/> asks for the bit fields.
    /// </summary>
    public static SparseEncoding Encode(SparseMatrix matrix, NMIndexEncoding nmIndex = NMIndexEncoding.Smallest)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        string name = matrix.Name;
        string common = $"rows={matrix.Rows};cols={matrix.Cols};dtype={matrix.DType.ToSafetensorsName()}";
        switch (matrix)
        {
            case NMSparseMatrix nm:
                NMRankCode? ranks = nmIndex == NMIndexEncoding.Fields ? null : NMRankCode.For(nm.N, nm.M, nm.Cols);
                SparsePart index = ranks is null
                    ? new SparsePart(name + NMIndexSuffix, DType.U8, [nm.Rows, nm.IndexStride], nm.IndexBlock.Memory)
                    : new SparsePart(name + NMIndexSuffix, DType.U8, [nm.Rows, ranks.Stride(nm.Cols)], ranks.Encode(nm));
                return new SparseEncoding(
                [
                    new SparsePart(name + NMValuesSuffix, nm.DType, [nm.Rows, nm.ValuesPerRow], nm.ValuesBlock.Memory),
                    index,
                ], new Dictionary<string, string> { [MetadataPrefix + name] = $"format=nm;n={nm.N};m={nm.M};index={(ranks is null ? FieldsIndex : RankIndex)};{common}" });
            case BitmaskSparseMatrix bm:
                return new SparseEncoding(
                [
                    new SparsePart(name + MaskSuffix, DType.U8, [bm.Rows, bm.MaskStride], bm.MaskBlock.Memory),
                    new SparsePart(name + OffsetsSuffix, DType.I64, [bm.Rows + 1L], bm.OffsetsBlock.Memory),
                    new SparsePart(name + BitmaskValuesSuffix, bm.DType, [bm.StoredValues], bm.ValuesBlock.Memory),
                ], new Dictionary<string, string> { [MetadataPrefix + name] = $"format=bitmask;{common}" });
            default:
                throw new ArgumentException($"tensor '{name}': no stored layout for {matrix.GetType().Name}", nameof(matrix));
        }
    }

    /// <summary>
    /// Bytes an N:M weight of <paramref name="rows"/> × <paramref name="cols"/> takes stored compact, as
    /// <see cref="Encode"/> stores it: its values and the smaller of its two index encodings.
    /// </summary>
    public static long NMStoredBytes(long rows, int cols, int n, int m, DType dtype)
    {
        int indexStride = NMRankCode.For(n, m, cols)?.Stride(cols) ?? NMSparseMatrix.IndexStrideOf(cols, n, m);
        return rows * (((long)cols / m * n * dtype.SizeOf()) + indexStride);
    }

    /// <summary>
    /// Bytes a bitmask weight of <paramref name="rows"/> × <paramref name="cols"/> with <paramref name="values"/>
    /// stored values takes, as <see cref="Encode"/> stores it: its mask, its row offsets and its values.
    /// </summary>
    public static long BitmaskStoredBytes(long rows, int cols, long values, DType dtype) =>
        (rows * ((cols + 7) >> 3)) + ((rows + 1) * sizeof(long)) + (values * dtype.SizeOf());

    /// <summary>Names of the sparse weights the file metadata declares.</summary>
    public static IEnumerable<string> SparseNames(IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        return metadata.Keys.Where(k => k.StartsWith(MetadataPrefix, StringComparison.Ordinal)).Select(k => k[MetadataPrefix.Length..]);
    }

    /// <summary>True when the metadata declares <paramref name="name"/> sparse.</summary>
    public static bool IsSparse(string name, IReadOnlyDictionary<string, string> metadata)
        => metadata is not null && metadata.ContainsKey(MetadataPrefix + name);

    /// <summary>
    /// The dense shape [rows, cols] of sparse weight <paramref name="name"/>, from its metadata entry alone (no part is
    /// read): the parameters the weight stands for, whatever its parts hold.
    /// </summary>
    public static (int Rows, int Cols) DenseShape(string name, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        if (!metadata.TryGetValue(MetadataPrefix + name, out string? entry))
        {
            throw new SparseFormatException(name, $"no metadata entry '{MetadataPrefix + name}'");
        }
        var fields = Parse(name, entry);
        return (IntField(name, fields, "rows"), IntField(name, fields, "cols"));
    }

    /// <summary>
    /// Checks the metadata entry of sparse weight <paramref name="name"/> as far as a checkpoint is read without
    /// loading it: a known format, and the dense shape <see cref="DenseShape"/> gives. An entry that lacks them names
    /// no parts to check, so without this it passed the open and failed later, in a summary, as a bug in copal.
    /// </summary>
    public static void CheckDeclared(string name, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var fields = Parse(name, metadata[MetadataPrefix + name]);
        string format = Field(name, fields, "format");
        if (format is not ("nm" or "bitmask"))
        {
            throw new SparseFormatException(name, $"unknown sparse format '{format}', expected 'nm' or 'bitmask'");
        }
        _ = DenseShape(name, metadata);
    }

    /// <summary>
    /// Checks that the stored parts of sparse weight <paramref name="name"/> have the shapes its declared dense shape
    /// gives them, from the header alone (no part is read): a summary counts the weight's parameters from the
    /// declaration, so an entry claiming 2^31 − 1 rows over parts of 64 had inspect report quintillions of parameters.
    /// The parts must exist (<see cref="MissingParts"/>) and the entry parse (<see cref="CheckDeclared"/>).
    /// </summary>
    public static void CheckPartShapes(string name, IReadOnlyDictionary<string, string> metadata, Func<string, TensorView> part)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(part);
        var fields = Parse(name, metadata[MetadataPrefix + name]);
        var (rows, cols) = DenseShape(name, metadata);
        if (fields["format"] == "bitmask")
        {
            SparseChecks.Expect(name, part(name + MaskSuffix), DType.U8, rows, ((long)cols + 7) >> 3);
            SparseChecks.Expect(name, part(name + OffsetsSuffix), DType.I64, rows + 1L);
            return;
        }
        int n = IntField(name, fields, "n"), m = IntField(name, fields, "m");
        NMSparseMatrix.CheckPattern(name, cols, n, m);
        SparseChecks.ExpectShape(name, part(name + NMValuesSuffix), rows, cols / m * n);
    }

    /// <summary>
    /// Whether <paramref name="name"/> is named as a sparse weight's stored part (<c>X.nm_values</c>, <c>X.bm_mask</c>,
    /// ...), whatever the metadata says; <paramref name="weight"/> is then X. A part whose weight has no metadata entry
    /// is a damaged checkpoint, not a dense tensor of that name.
    /// </summary>
    public static bool IsNamedAsPart(string name, out string weight)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (string suffix in (string[])[.. NMSuffixes, .. BitmaskSuffixes])
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal))
            {
                weight = name[..^suffix.Length];
                return true;
            }
        }
        weight = "";
        return false;
    }

    /// <summary>The sparse weight whose stored part <paramref name="partName"/> is, and whether it holds its values.</summary>
    public static bool IsPartOf(string partName, IReadOnlyDictionary<string, string> metadata, out string weight, out bool values)
    {
        ArgumentNullException.ThrowIfNull(partName);
        ArgumentNullException.ThrowIfNull(metadata);
        if (IsNamedAsPart(partName, out weight) && IsSparse(weight, metadata))
        {
            values = partName.EndsWith(NMValuesSuffix, StringComparison.Ordinal) || partName.EndsWith(BitmaskValuesSuffix, StringComparison.Ordinal);
            return true;
        }
        weight = "";
        values = false;
        return false;
    }

    /// <summary>
    /// What of sparse weight <paramref name="name"/>'s stored parts <paramref name="has"/> lacks, as a sentence, or null
    /// when it holds them all (or the entry names a format this version does not know, which <see cref="Load"/> reports).
    /// A checkpoint opens only when every entry's parts are there: an entry without them was counted as a weight by
    /// inspect and dropped without a word by densify.
    /// </summary>
    public static string? MissingParts(string name, IReadOnlyDictionary<string, string> metadata, Func<string, bool> has)
    {
        ArgumentNullException.ThrowIfNull(has);
        string? format = Parse(name, metadata[MetadataPrefix + name]).GetValueOrDefault("format");
        string[] suffixes = format switch
        {
            "nm" => NMSuffixes,
            "bitmask" => BitmaskSuffixes,
            _ => [],
        };
        string[] missing = [.. suffixes.Select(suffix => name + suffix).Where(part => !has(part))];
        return missing.Length == 0 ? null
            : $"metadata entry '{MetadataPrefix + name}' declares '{name}' compact ({format}), but the checkpoint lacks {(missing.Length == suffixes.Length ? "all of its parts" : "part of it")}: " +
              string.Join(", ", missing.Select(m => $"'{m}'"));
    }

    /// <summary>
    /// Wraps the stored parts of sparse weight <paramref name="name"/> without copying, after validating shapes,
    /// byte lengths and indices. The views' memory (a mapped file) must outlive the returned matrix.
    /// </summary>
    public static SparseMatrix Load(string name, Func<string, TensorView?> lookup, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(lookup);
        ArgumentNullException.ThrowIfNull(metadata);
        if (!metadata.TryGetValue(MetadataPrefix + name, out string? entry))
        {
            throw new SparseFormatException(name, $"no metadata entry '{MetadataPrefix + name}'");
        }
        var fields = Parse(name, entry);
        string format = Field(name, fields, "format");
        int rows = IntField(name, fields, "rows"), cols = IntField(name, fields, "cols");
        if (!DTypes.TryParseSafetensorsName(Field(name, fields, "dtype"), out DType dtype) || !SparseMatrix.HoldsValuesOf(dtype))
        {
            throw new SparseFormatException(name, $"metadata dtype '{fields["dtype"]}' is not F32, BF16 or F16");
        }
        if (rows <= 0 || cols <= 0)
        {
            throw new SparseFormatException(name, FormattableString.Invariant($"metadata shape [{rows}, {cols}] must be positive"));
        }
        TensorView Part(string suffix) => lookup(name + suffix) ?? throw new SparseFormatException(name, $"missing part '{name + suffix}'");
        return format switch
        {
            "nm" => (fields.TryGetValue("index", out string? index) ? index : FieldsIndex) switch
            {
                FieldsIndex => NMSparseMatrix.Wrap(name, dtype, rows, cols, IntField(name, fields, "n"), IntField(name, fields, "m"),
                    Part(NMValuesSuffix), Part(NMIndexSuffix)),
                RankIndex => NMSparseMatrix.WrapRanked(name, dtype, rows, cols, IntField(name, fields, "n"), IntField(name, fields, "m"),
                    Part(NMValuesSuffix), Part(NMIndexSuffix)),
                _ => throw new SparseFormatException(name, $"unknown N:M index code 'index={index}', expected '{FieldsIndex}' or '{RankIndex}'"),
            },
            "bitmask" => BitmaskSparseMatrix.Wrap(name, dtype, rows, cols, Part(MaskSuffix), Part(BitmaskValuesSuffix), Part(OffsetsSuffix)),
            _ => throw new SparseFormatException(name, $"unknown sparse format '{format}', expected 'nm' or 'bitmask'"),
        };
    }

    private static Dictionary<string, string> Parse(string name, string entry)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string item in entry.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = item.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new SparseFormatException(name, $"metadata item '{item}' is not key=value");
            }
            fields[item[..eq]] = item[(eq + 1)..];
        }
        return fields;
    }

    private static string Field(string name, Dictionary<string, string> fields, string key)
        => fields.TryGetValue(key, out string? value) ? value : throw new SparseFormatException(name, $"metadata lacks '{key}'");

    private static int IntField(string name, Dictionary<string, string> fields, string key)
        => int.TryParse(Field(name, fields, key), NumberStyles.None, CultureInfo.InvariantCulture, out int value)
            ? value
            : throw new SparseFormatException(name, $"metadata '{key}={fields[key]}' is not a non-negative integer");
}
