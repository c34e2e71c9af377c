namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// The string formats (JSON Schema's <c>format</c>) held to by automata of their own: the dates, whose days per month and
/// leap years a pattern would spell out at length. The other formats are patterns (<see cref="FormatPatterns"/>).
/// </summary>
internal enum StringFormat : byte
{
    None,

    /// <summary>RFC 3339 full-date, YYYY-MM-DD: a real day of a year 0001–9999 (29 February in leap years only).</summary>
    Date,

    /// <summary>
    /// RFC 3339 date-time, YYYY-MM-DDTHH:MM:SS, 1–7 decimals of a second, then Z or ±HH:MM: what .NET's DateTime and
    /// DateTimeOffset read (no leap second, no lowercase t or z, at most the 7 decimals of a tick, an offset of at most
    /// 14 hours, a year from 1000 to 9998 so that no offset moves it out of .NET's years).
    /// </summary>
    DateTime,
}

/// <summary>
/// The byte automata of the string formats: which byte may come next in a format's string (without its quotes), and
/// whether what came is a whole one. The progress is one long (a phase, and what a date's later digits depend on: the
/// year mod 400, whether it is above 0, the month, a two-digit field's first digit), so a schema's states stay values.
/// </summary>
internal static class StringFormats
{
    /// <summary>The format of JSON Schema's name, or null for one copal does not hold a reply to.</summary>
    public static StringFormat? Of(string name) => name switch
    {
        "date" => StringFormat.Date,
        "date-time" => StringFormat.DateTime,
        _ => null,
    };

    // The packed progress: phase (bits 0-5), a first digit or an offset's hour (6-9), month (10-13), year mod 400
    // (14-22), year above 0 (23), year all nines so far (24).
    private static int Phase(long s) => (int)(s & 0x3F);

    private static int First(long s) => (int)((s >> 6) & 0xF);

    private static int Month(long s) => (int)((s >> 10) & 0xF);

    private static int YearMod400(long s) => (int)((s >> 14) & 0x1FF);

    private static bool YearAboveZero(long s) => ((s >> 23) & 1) != 0;

    private static bool YearAllNines(long s) => ((s >> 24) & 1) != 0;

    private static long With(long s, int phase, int? first = null, int? month = null, int? year = null, bool? aboveZero = null, bool? allNines = null) =>
        (uint)phase
        | ((long)(first ?? First(s)) << 6)
        | ((long)(month ?? Month(s)) << 10)
        | ((long)(year ?? YearMod400(s)) << 14)
        | ((aboveZero ?? YearAboveZero(s)) ? 1L << 23 : 0)
        | ((allNines ?? YearAllNines(s)) ? 1L << 24 : 0);

    // Date-time phases after the date's: T, hour, ':', minute, ':', second, then decimals or the offset.
    private const int DateEnd = 10, Hour1 = 11, Hour2 = 12, Colon1 = 13, Minute1 = 14, Minute2 = 15, Colon2 = 16,
        Second1 = 17, Second2 = 18, AfterSeconds = 19, Decimals = 20, // 20..27: Decimals + the decimals written
        OffsetHour1 = 28, OffsetHour2 = 29, OffsetColon = 30, OffsetMinute1 = 31, OffsetMinute2 = 32, End = 33;

    /// <summary>Takes <paramref name="b"/> into the progress <paramref name="state"/>; false, leaving it as it was, where the format has no such string.</summary>
    public static bool Step(StringFormat format, ref long state, byte b)
    {
        long next = StepDateTime(format, state, b);
        if (next < 0)
        {
            return false;
        }
        state = next;
        return true;
    }

    /// <summary>Whether the string so far is a whole one of the format (its closing quote may come).</summary>
    public static bool Complete(StringFormat format, long state) => format switch
    {
        StringFormat.Date => Phase(state) == DateEnd,
        _ => Phase(state) == End,
    };

    private static bool Digit(byte b, int from, int to) => b >= '0' + from && b <= '0' + to;

    private static long StepDateTime(StringFormat format, long s, byte b)
    {
        int at = Phase(s), d = b - '0';
        switch (at)
        {
            case < 4:
                // The year, digit by digit: kept mod 400 (which decides a leap year), whether any digit is above 0, and
                // (for a date-time, which starts at 1000 and ends at 9998) whether all are 9. Its last digit may not
                // make it 0000 (or a date-time's 9999): no date would follow.
                bool aboveZero = YearAboveZero(s) || d > 0, allNines = (at == 0 || YearAllNines(s)) && d == 9;
                if (!Digit(b, at == 0 && format == StringFormat.DateTime ? 1 : 0, 9) || (at == 3 && (!aboveZero || (format == StringFormat.DateTime && allNines))))
                {
                    return -1;
                }
                return With(s, at + 1, year: ((YearMod400(s) * 10) + d) % 400, aboveZero: aboveZero, allNines: allNines);
            case 4:
                return b == '-' ? With(s, 5) : -1;
            case 5:
                return Digit(b, 0, 1) ? With(s, 6, first: d) : -1;
            case 6:
                return (First(s) == 0 ? Digit(b, 1, 9) : Digit(b, 0, 2)) ? With(s, 7, month: (First(s) * 10) + d) : -1;
            case 7:
                return b == '-' ? With(s, 8) : -1;
            case 8:
                return Digit(b, 0, Month(s) == 2 ? 2 : 3) ? With(s, 9, first: d) : -1;
            case 9:
                return DayFits(s, d) && Digit(b, 0, 9) ? With(s, DateEnd) : -1;
        }
        if (format == StringFormat.Date)
        {
            return -1;
        }
        switch (at)
        {
            case DateEnd:
                return b == 'T' ? With(s, Hour1) : -1;
            case Hour1:
                return Digit(b, 0, 2) ? With(s, Hour2, first: d) : -1;
            case Hour2:
                return Digit(b, 0, First(s) == 2 ? 3 : 9) ? With(s, Colon1) : -1;
            case Colon1 or Colon2:
                return b == ':' ? With(s, at + 1) : -1;
            case Minute1 or Second1:
                return Digit(b, 0, 5) ? With(s, at + 1) : -1;
            case Minute2 or Second2:
                return Digit(b, 0, 9) ? With(s, at + 1) : -1;
            case AfterSeconds:
                return b == '.' ? With(s, Decimals) : Offset(s, b);
            case >= Decimals and < OffsetHour1:
                // Phase Decimals + n: n decimals written; at least one, at most seven.
                int written = at - Decimals;
                if (Digit(b, 0, 9))
                {
                    return written < 7 ? With(s, at + 1) : -1;
                }
                return written > 0 ? Offset(s, b) : -1;
            case OffsetHour1:
                return Digit(b, 0, 1) ? With(s, OffsetHour2, first: d) : -1;
            case OffsetHour2:
                // First holds the offset's hour from here: at most 14, and 14 only as 14:00.
                return Digit(b, 0, First(s) == 1 ? 4 : 9) ? With(s, OffsetColon, first: (First(s) * 10) + d) : -1;
            case OffsetColon:
                return b == ':' ? With(s, OffsetMinute1) : -1;
            case OffsetMinute1:
                return Digit(b, 0, First(s) == 14 ? 0 : 5) ? With(s, OffsetMinute2) : -1;
            case OffsetMinute2:
                return Digit(b, 0, First(s) == 14 ? 0 : 9) ? With(s, End) : -1;
            default:
                return -1;
        }
    }

    private static long Offset(long s, byte b) => b switch
    {
        (byte)'Z' => With(s, End),
        (byte)'+' or (byte)'-' => With(s, OffsetHour1),
        _ => -1,
    };

    // The day's second digit d after its first: 01–28 in every month, 29 but in February of a common year, 30 but in
    // February, 31 in the months that have it.
    private static bool DayFits(long s, int d)
    {
        int day = (First(s) * 10) + d, month = Month(s);
        if (day is < 1 or > 31)
        {
            return false;
        }
        int year = YearMod400(s);
        bool leap = year % 4 == 0 && (year % 100 != 0 || year == 0);
        int last = month == 2 ? (leap ? 29 : 28) : month is 4 or 6 or 9 or 11 ? 30 : 31;
        return day <= last;
    }
}
