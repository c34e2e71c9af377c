namespace Copal.Model.Generation;

/// <summary>
/// PCG-XSH-RR 32-bit generator. Copal's own rather than System.Random so that a seed gives the same
/// samples on every .NET version: same inputs, same output bytes.
/// </summary>
internal sealed class Pcg32
{
    private const ulong Multiplier = 6364136223846793005UL;
    private const ulong Increment = 1442695040888963407UL;
    private ulong _state;

    /// <summary>A generator seeded with <paramref name="seed"/> (PCG's reference seeding, fixed increment).</summary>
    public Pcg32(ulong seed)
    {
        _state = 0;
        NextUInt();
        _state += seed;
        NextUInt();
    }

    private Pcg32(ulong state, bool _) => _state = state;

    /// <summary>
    /// A generator whose first draw is the one this one would give after <paramref name="draws"/> draws (this one
    /// does not move), in O(log draws): the LCG's step x ↦ a·x + c applied n times is x ↦ Aₙ·x + Cₙ, and A, C compose
    /// by squaring. Lets a long stream be filled in parallel pieces with the same bytes as in one pass.
    /// </summary>
    public Pcg32 Ahead(ulong draws)
    {
        ulong accMultiplier = 1, accIncrement = 0, multiplier = Multiplier, increment = Increment;
        for (ulong n = draws; n > 0; n >>= 1)
        {
            if ((n & 1) != 0)
            {
                accMultiplier *= multiplier;
                accIncrement = (accIncrement * multiplier) + increment;
            }
            increment = (multiplier + 1) * increment;
            multiplier *= multiplier;
        }
        return new Pcg32((accMultiplier * _state) + accIncrement, true);
    }

    /// <summary>The next 32 uniformly distributed bits; advances the generator by one draw.</summary>
    public uint NextUInt()
    {
        ulong old = _state;
        _state = old * Multiplier + Increment;
        uint xorShifted = (uint)(((old >> 18) ^ old) >> 27);
        int rot = (int)(old >> 59);
        return (xorShifted >> rot) | (xorShifted << (-rot & 31));
    }

    /// <summary>Uniform in [0, 1) with 24 bits of precision.</summary>
    public float NextFloat() => (NextUInt() >> 8) * (1f / (1 << 24));

    /// <summary>Uniform in [0, bound).</summary>
    public int NextInt(int bound)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bound, 1);
        return (int)((ulong)NextUInt() * (ulong)bound >> 32);
    }
}
