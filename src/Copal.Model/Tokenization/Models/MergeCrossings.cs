namespace Copal.Model.Tokenization.Models;

/// <summary>
/// The places where byte-level BPE can cut a word without changing its ids: between two bytes that no merge can join.
/// A symbol that spans two adjacent bytes a, b of the word is a merged token whose spelling holds "ab"; if no merge's
/// result holds "ab", no symbol ever spans them, so the merges on each side run as they would alone (a merge's rank
/// only orders merges that touch) and the word's ids are its parts' ids one after another. A byte the vocab lacks is
/// joined to its neighbours where it is dropped, and to another such byte where fuse_unk makes their run one unk
/// (<see cref="AddUnknownBytes"/>). A byte-level file without a
/// split regex hands the model its whole text as one word; cut there, it is merged part by part (a word or so each,
/// with the word cache), linearly, and an encode can be cancelled and report progress between parts.
/// </summary>
internal sealed class MergeCrossings
{
    // Bit (a << 8 | b) is set when a merge's result holds byte a right before byte b.
    private readonly ulong[] _joinable = new ulong[256 * 256 / 64];

    /// <summary>
    /// Takes in one merge's two parts, in GPT-2's byte alphabet: every pair of bytes its result holds, not only the
    /// junction, so a part that no merge makes (a multi-byte vocab entry) counts too and no cut rests on a guess about
    /// which tokens can occur.
    /// </summary>
    public void Add(string left, string right)
    {
        for (int i = 1; i < left.Length + right.Length; i++)
        {
            int a = ByteOf(At(i - 1)), b = ByteOf(At(i));
            if (a >= 0 && b >= 0)
            {
                Join(a, b);
            }
        }

        char At(int i) => i < left.Length ? left[i] : right[i - left.Length];
    }

    /// <summary>
    /// Takes in the bytes the vocab lacks (none in a real file). Without an unk token each is dropped, and the bytes on
    /// either side of it become neighbours a merge may join: no cut next to one. With <paramref name="fuseUnk"/>, two
    /// side by side are one unk token (HF fuses a run of unknown symbols before any merge): no cut between them.
    /// </summary>
    public void AddUnknownBytes(IReadOnlyList<int> unknownBytes, bool hasUnk, bool fuseUnk)
    {
        foreach (int u in unknownBytes)
        {
            for (int other = 0; other < 256; other++)
            {
                if (!hasUnk || (fuseUnk && unknownBytes.Contains(other)))
                {
                    Join(u, other);
                    Join(other, u);
                }
            }
        }
    }

    private void Join(int a, int b) => _joinable[((a << 8) | b) >> 6] |= 1UL << (b & 63);

    // A char outside the alphabet is no byte of any text, so a pair holding one joins no text's bytes.
    private static int ByteOf(char c) => c < PreTokenizers.ByteLevelAlphabet.CharToByte.Length ? PreTokenizers.ByteLevelAlphabet.CharToByte[c] : -1;

    /// <summary>Whether some merge's result holds byte <paramref name="a"/> right before byte <paramref name="b"/>.</summary>
    public bool Joinable(int a, int b) => (_joinable[((a << 8) | b) >> 6] & (1UL << (b & 63))) != 0;

    /// <summary>
    /// The end of the part of <paramref name="word"/> that starts at <paramref name="start"/>: the first place after
    /// it, between two code points, where no merge joins the last UTF-8 byte before to the first after; the word's
    /// length when there is none.
    /// </summary>
    public int PartEnd(ReadOnlySpan<char> word, int start)
    {
        int i = start;
        int previous = NextScalar(word, ref i);
        while (i < word.Length)
        {
            int at = i;
            int scalar = NextScalar(word, ref i);
            if (!Joinable(LastUtf8Byte(previous), FirstUtf8Byte(scalar)))
            {
                return at;
            }
            previous = scalar;
        }
        return word.Length;
    }

    // The code point at i (a lone surrogate is U+FFFD, as the UTF-8 encoder writes it), and i moved past it.
    private static int NextScalar(ReadOnlySpan<char> word, ref int i)
    {
        char c = word[i++];
        if (char.IsHighSurrogate(c) && i < word.Length && char.IsLowSurrogate(word[i]))
        {
            return char.ConvertToUtf32(c, word[i++]);
        }
        return char.IsSurrogate(c) ? 0xFFFD : c;
    }

    private static int FirstUtf8Byte(int scalar) => scalar switch
    {
        < 0x80 => scalar,
        < 0x800 => 0xC0 | (scalar >> 6),
        < 0x10000 => 0xE0 | (scalar >> 12),
        _ => 0xF0 | (scalar >> 18),
    };

    private static int LastUtf8Byte(int scalar) => scalar < 0x80 ? scalar : 0x80 | (scalar & 0x3F);
}
