namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// The string formats held to as patterns (<see cref="StringPattern"/>): for each, a subset of what the format's RFC
/// allows that every common reader takes (JsonSchema.Net with format validation, .NET's Uri, MailAddress, IPAddress, XmlConvert and Guid),
/// the forms a model writes. A reply is never a string outside the format; some strings inside it (a URI of another
/// scheme, an e-mail address with a quoted local part) are never written.
/// </summary>
internal static class FormatPatterns
{
    // A DNS label: letters, digits and inner hyphens, 1 to 63 characters (RFC 1123), never "--" third and fourth
    // (RFC 5891 keeps those for IDNA's "xn--", whose rest JsonSchema.Net and URL readers decode as Punycode); a
    // top-level one starts with a letter, so that no host name reads as an IPv4 address.
    private const string LabelRest = "(?:[A-Za-z0-9]|[A-Za-z0-9-][A-Za-z0-9]|[A-Za-z0-9-](?:-[A-Za-z0-9]|[A-Za-z0-9]{2})"
        + "|[A-Za-z0-9-](?:[A-Za-z0-9][A-Za-z0-9-]|-[A-Za-z0-9])[A-Za-z0-9-]{0,58}[A-Za-z0-9])?";
    private const string Label = $"[A-Za-z0-9]{LabelRest}";
    private const string TopLabel = $"[A-Za-z]{LabelRest}";
    private const string Host = $"(?:{Label}\\.)*{TopLabel}";

    // A URL's host: labels of letters and digits with single inner hyphens (never "xn--", which a WHATWG reader decodes
    // as Punycode and Pydantic refuses where it is not), the last starting with a letter (a WHATWG reader takes a host
    // whose last label is a number as an IPv4 address).
    private const string UrlHost = "(?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\\.)*[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*";

    // Each part's digits bounded so that a whole duration stays within .NET's TimeSpan (10,675,199 days) and its time
    // within Pydantic's 2^32 − 1 seconds (99,999 hours, 9,999,999 minutes and 999,999,999 seconds are 1,959,996,339).
    private const string DurationTime = "T(?:\\d{1,5}H(?:\\d{1,7}M(?:\\d{1,9}S)?)?|\\d{1,7}M(?:\\d{1,9}S)?|\\d{1,9}S)";

    private const string Hex4 = "[0-9a-fA-F]{1,4}";

    // Each way '::' may stand among the groups: k groups before it and at most 7 − k after.
    private const string Ipv6 =
        $"(?:{Hex4}:){{7}}{Hex4}|(?:{Hex4}:){{1,7}}:|(?:{Hex4}:){{1,6}}:{Hex4}|(?:{Hex4}:){{1,5}}(?::{Hex4}){{1,2}}"
        + $"|(?:{Hex4}:){{1,4}}(?::{Hex4}){{1,3}}|(?:{Hex4}:){{1,3}}(?::{Hex4}){{1,4}}|(?:{Hex4}:){{1,2}}(?::{Hex4}){{1,5}}"
        + $"|{Hex4}:(?::{Hex4}){{1,6}}|:(?:(?::{Hex4}){{1,7}}|:)";

    private const string Octet = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";

    // A port 0 to 65535, written without leading zeros.
    private const string Port = "(?:6553[0-5]|655[0-2]\\d|65[0-4]\\d\\d|6[0-4]\\d{3}|[1-5]\\d{4}|[1-9]\\d{0,3}|0)";

    // A path, query or fragment character: RFC 3986's unreserved and sub-delims, ':' and '@', or a percent escape.
    private const string UriCharacter = "(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})";

    /// <summary>The pattern of JSON Schema's format <paramref name="name"/>, and the most characters it allows (−1: no most); null for a format not held to so.</summary>
    public static (string Pattern, int MaxLength)? Of(string name) => name switch
    {
        // An http or https URL with a host name and an optional port, path, query and fragment. Its labels are not
        // counted, so the automaton stays small; instead the whole is at most 262 characters, so its host is at most
        // 255, as .NET's Uri needs of a host with a label past 63 (http://, 255 a's, then .b/ is refused); Pydantic's
        // HttpUrl takes at most 2,083.
        "uri" => ($"^https?://{UrlHost}(?::{Port})?(?:/{UriCharacter}*)*(?:\\?(?:{UriCharacter}|[/?])*)?(?:#(?:{UriCharacter}|[/?])*)?$", 262),
        // A dot-atom local part of at most 64 characters, '@', a domain of two labels or more whose last is 2 to 63
        // letters (JsonSchema.Net refuses a one-character top-level domain).
        "email" => ($"^(?=[^@]{{1,64}}@)[A-Za-z0-9_%+-]+(?:\\.[A-Za-z0-9_%+-]+)*@(?:{Label}\\.)+[A-Za-z]{{2,63}}$", 254),
        "hostname" => ($"^{Host}$", 253),
        "ipv4" => ($"^{Octet}(?:\\.{Octet}){{3}}$", -1),
        // Eight groups of 1 to 4 hexadecimal digits, or fewer with one '::' standing for the rest (RFC 4291; no
        // embedded IPv4 address, no zone).
        "ipv6" => ($"^(?:{Ipv6})$", -1),
        // RFC 3339's full-time: hours, minutes, seconds (no leap second), 1 to 9 decimals, then Z or an offset of at
        // most 14 hours (as date-time's, what .NET's DateTimeOffset reads). An
        // offset is required, so .NET's TimeOnly, which System.Text.Json exports as this format, cannot read it back:
        // no string is both (JsonSchema.Net refuses a time without an offset).
        "time" => ("^(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d{1,9})?(?:Z|[+-](?:(?:0\\d|1[0-3]):[0-5]\\d|14:00))$", -1),
        // RFC 3339's duration of days, hours, minutes and seconds in whole numbers, each part after the ones before
        // it that are written (what Pydantic's timedelta and .NET's XmlConvert read; no years, months or weeks, whose
        // lengths vary), small enough for a TimeSpan.
        "duration" => ($"^P(?:\\d{{1,6}}D(?:{DurationTime})?|{DurationTime})$", -1),
        // A UUID as RFC 9562 writes it: 8-4-4-4-12 hexadecimal digits, either case (.NET's Guid, Pydantic's UUID).
        "uuid" => ("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", -1),
        _ => null,
    };
}
