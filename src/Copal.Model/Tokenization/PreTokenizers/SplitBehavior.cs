namespace Copal.Model.Tokenization.PreTokenizers;

/// <summary>What happens to the delimiters (matches) of a split, as in HF's SplitDelimiterBehavior.</summary>
internal enum SplitBehavior
{
    Removed,
    Isolated,
    MergedWithPrevious,
    MergedWithNext,
    Contiguous,
}

/// <summary>Splits text into pieces from a list of matches, following HF's NormalizedString::split.</summary>
internal static class Splitter
{
    /// <summary>
    /// <paramref name="matches"/> are ordered, non-overlapping spans. With <paramref name="invert"/> the gaps act as
    /// the delimiters. Empty spans are dropped, as HF does.
    /// </summary>
    public static void Split(Piece piece, List<(int Start, int Length)> matches, SplitBehavior behavior, bool invert, List<Piece> output)
    {
        string text = piece.Text;
        // (start, end, isDelimiter) covering the text.
        var parts = new List<(int Start, int End, bool IsMatch)>(matches.Count * 2 + 1);
        int prev = 0;
        foreach ((int start, int length) in matches)
        {
            if (length == 0)
            {
                continue;
            }
            if (start > prev)
            {
                parts.Add((prev, start, invert));
            }
            parts.Add((start, start + length, !invert));
            prev = start + length;
        }
        if (prev < text.Length)
        {
            parts.Add((prev, text.Length, invert));
        }

        var merged = new List<(int Start, int End)>(parts.Count);
        switch (behavior)
        {
            case SplitBehavior.Isolated:
                foreach (var p in parts)
                {
                    merged.Add((p.Start, p.End));
                }
                break;
            case SplitBehavior.Removed:
                foreach (var p in parts)
                {
                    if (!p.IsMatch)
                    {
                        merged.Add((p.Start, p.End));
                    }
                }
                break;
            case SplitBehavior.MergedWithPrevious:
            {
                bool previousMatch = false;
                foreach (var p in parts)
                {
                    if (p.IsMatch && !previousMatch && merged.Count > 0)
                    {
                        merged[^1] = (merged[^1].Start, p.End);
                    }
                    else
                    {
                        merged.Add((p.Start, p.End));
                    }
                    previousMatch = p.IsMatch;
                }
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                bool previousMatch = false;
                for (int i = parts.Count - 1; i >= 0; i--)
                {
                    var p = parts[i];
                    if (p.IsMatch && !previousMatch && merged.Count > 0)
                    {
                        merged[^1] = (p.Start, merged[^1].End);
                    }
                    else
                    {
                        merged.Add((p.Start, p.End));
                    }
                    previousMatch = p.IsMatch;
                }
                merged.Reverse();
                break;
            }
            case SplitBehavior.Contiguous:
            {
                bool previousMatch = false;
                foreach (var p in parts)
                {
                    if (p.IsMatch == previousMatch && merged.Count > 0)
                    {
                        merged[^1] = (merged[^1].Start, p.End);
                    }
                    else
                    {
                        merged.Add((p.Start, p.End));
                    }
                    previousMatch = p.IsMatch;
                }
                break;
            }
        }

        foreach ((int start, int end) in merged)
        {
            output.Add(new Piece(start == 0 && end == text.Length ? text : text[start..end], piece.AtStart && start == 0));
        }
    }
}
