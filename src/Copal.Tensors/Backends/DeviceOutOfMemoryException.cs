namespace Copal.Tensors.Backends;

/// <summary>
/// The device has no room for an allocation, or a model's weights alone exceed its memory. The message names the
/// device, what was being allocated, how much, and the device's memory. On the CPU backend the device is the host
/// (<see cref="OnHost"/>): a buffer that would not fit in the memory available is refused the same way, so a server
/// fails that one request rather than being ended by the kernel's out-of-memory killer.
/// </summary>
public sealed class DeviceOutOfMemoryException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>True when the memory is the host's (the CPU backend), so moving to the CPU is no remedy.</summary>
    public bool OnHost { get; init; }

    /// <summary>
    /// What would need less, where the refusal knows better than a command's general advice (a weight copy: mapping
    /// the weights instead); null for that advice.
    /// </summary>
    public string? Remedy { get; init; }

    /// <summary>
    /// The remedy where weights are what does not fit: a checkpoint that stores fewer bytes, or the CPU, which maps
    /// them. Not a shorter context, the commands' general advice, which frees no weight.
    /// </summary>
    public const string WeightsRemedy = "a compact (pruned) checkpoint or --device cpu needs less";

    /// <summary>
    /// This refusal again, its remedy the option that sizes every buffer of the run (perplexity's --seqlen,
    /// continual's --eval-seqlen), with its value, and on a GPU the CPU beside it.
    /// </summary>
    public DeviceOutOfMemoryException WithShorter(string option, int value) => new(Message, this)
    {
        OnHost = OnHost,
        Remedy = FormattableString.Invariant($"a shorter {option} (now {value}) needs less{(OnHost ? "" : ", as does --device cpu")}"),
    };
}
