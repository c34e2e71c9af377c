namespace Copal.Tensors.Backends.Ilgpu;

/// <summary>Host-side conversion of stored F32/F16/BF16 tensors to f32, for the small tensors uploaded as f32.</summary>
internal static class HostConvert
{
    public static void ToSingle(TensorView view, Span<float> destination)
    {
        if (destination.Length != view.ElementCount)
        {
            throw new ArgumentException($"tensor '{view.Name}' has {view.ElementCount} elements, destination {destination.Length}");
        }
        switch (view.DType)
        {
            case DType.F32:
                view.AsSpan<float>().CopyTo(destination);
                break;
            case DType.F16:
                ReadOnlySpan<Half> halves = view.AsSpan<Half>();
                for (int i = 0; i < halves.Length; i++)
                {
                    destination[i] = (float)halves[i];
                }
                break;
            case DType.BF16:
                // bfloat16 is the upper half of an IEEE single.
                ReadOnlySpan<ushort> bits = view.AsSpan<ushort>();
                for (int i = 0; i < bits.Length; i++)
                {
                    destination[i] = BitConverter.UInt32BitsToSingle((uint)bits[i] << 16);
                }
                break;
            default:
                throw new ArgumentException($"tensor '{view.Name}' is {view.DType}; expected F32, F16 or BF16");
        }
    }
}
