using System.Globalization;

namespace Copal.Prune;

/// <summary>
/// What fraction of a weight matrix to prune and how the zeros are arranged: an unstructured ratio
/// ("0.5") or a semi-structured N:M pattern ("2:4": N zeros in every M consecutive inputs of a row).
/// </summary>
public abstract record SparsityPattern
{
    /// <summary>The largest unstructured ratio accepted; beyond it the layer is effectively removed.</summary>
    public const double MaxRatio = 0.95;

    private SparsityPattern()
    {
    }

    /// <summary>The fraction of weights that end up zero.</summary>
    public abstract double TargetSparsity { get; }

    /// <summary>Unstructured sparsity: prune <see cref="Ratio"/> of each comparison group, 0 ≤ Ratio ≤ 0.95.</summary>
    public sealed record Unstructured : SparsityPattern
    {
        private readonly double _ratio;

        /// <exception cref="PruningOptionException">The ratio is outside [0, 0.95] or not a number.</exception>
        public Unstructured(double ratio) => Ratio = ratio;

        /// <summary>The fraction to prune.</summary>
        public double Ratio
        {
            get => _ratio;
            init
            {
                if (!(value >= 0 && value <= MaxRatio))
                {
                    throw new PruningOptionException("sparsity", value.ToString("R", CultureInfo.InvariantCulture),
                        $"a ratio between 0 and {MaxRatio.ToString(CultureInfo.InvariantCulture)}");
                }
                _ratio = value;
            }
        }

        /// <summary><see cref="Ratio"/>.</summary>
        public override double TargetSparsity => Ratio;

        /// <summary>The number pruned in a comparison group of <paramref name="groupSize"/> entries: ⌊size·ratio⌋.</summary>
        public long CountFor(long groupSize) => (long)Math.Floor(groupSize * Ratio);

        /// <summary>The ratio as <see cref="Parse"/> reads it back, e.g. "0.5".</summary>
        public override string ToString() => Ratio.ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>N:M sparsity: in every group of M consecutive input columns of each row, the N lowest-scored are pruned.</summary>
    public sealed record NM : SparsityPattern
    {
        /// <exception cref="PruningOptionException">Not 0 &lt; N &lt; M.</exception>
        public NM(int n, int m)
        {
            if (!(n > 0 && n < m))
            {
                throw new PruningOptionException("sparsity", $"{n}:{m}", "N:M with 0 < N < M (e.g. 2:4)");
            }
            N = n;
            M = m;
        }

        /// <summary>Zeros per group.</summary>
        public int N { get; }

        /// <summary>Group length, in consecutive input columns.</summary>
        public int M { get; }

        /// <summary>N / M.</summary>
        public override double TargetSparsity => (double)N / M;

        /// <summary>Throws unless <paramref name="cols"/> splits into whole groups of M.</summary>
        /// <exception cref="PruningShapeException">cols is not a multiple of M.</exception>
        public void EnsureFits(int cols, string what)
        {
            if (cols % M != 0)
            {
                throw new PruningShapeException(
                    $"sparsity pattern {this} needs the input dimension of {what} to be a multiple of {M}, got {cols} columns", "pattern");
            }
        }

        /// <summary>"N:M", e.g. "2:4", as <see cref="Parse"/> reads it back.</summary>
        public override string ToString() => $"{N}:{M}";
    }

    /// <summary>Parses "0.5" (unstructured ratio) or "2:4" (N:M).</summary>
    /// <exception cref="PruningOptionException">The text is neither form, or the value is out of range.</exception>
    public static SparsityPattern Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim();
        int colon = t.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            if (int.TryParse(t.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out int n)
                && int.TryParse(t.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int m))
            {
                return new NM(n, m);
            }
            throw new PruningOptionException("sparsity", text, "N:M with whole numbers 0 < N < M (e.g. 2:4)");
        }
        // A ratio as any number is written (0.1, .1, 1e-1, +0.5); NaN and infinities are not numbers of this style.
        // -0 is 0, in the range; a negative number that reads as -0 (-1e-400) is still negative, so out of it.
        if (double.TryParse(t, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out double ratio)
            && !(ratio == 0 && t.StartsWith('-') && HasNonZeroDigit(t)))
        {
            return new Unstructured(ratio == 0 ? 0 : ratio);
        }
        throw new PruningOptionException("sparsity", text, $"a ratio between 0 and {MaxRatio.ToString(CultureInfo.InvariantCulture)} (e.g. 0.5) or N:M (e.g. 2:4)");
    }

    // Whether the significand (before any exponent) has a digit other than 0: "-0.000" is zero, "-1e-400" is not.
    private static bool HasNonZeroDigit(string number)
    {
        int exponent = number.IndexOfAny(['e', 'E']);
        return number.AsSpan(0, exponent < 0 ? number.Length : exponent).IndexOfAnyInRange('1', '9') >= 0;
    }
}
