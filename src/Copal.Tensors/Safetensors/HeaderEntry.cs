namespace Copal.Tensors.Safetensors;

/// <summary>One tensor as the header describes it; offsets are relative to the start of the data section.</summary>
internal readonly record struct HeaderEntry(string Name, DType DType, long[] Shape, long Begin, long End)
{
    public long ByteLength => End - Begin;
}
