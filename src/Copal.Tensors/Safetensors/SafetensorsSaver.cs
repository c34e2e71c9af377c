namespace Copal.Tensors.Safetensors;

/// <summary>Writes existing tensors to a new safetensors file in one call.</summary>
public static class SafetensorsSaver
{
    // Chunks keep spans under the 2 GiB span limit for very large tensors.
    private const long ChunkBytes = 1L << 30;

    /// <summary>
    /// Saves <paramref name="tensors"/> to <paramref name="path"/> atomically, laid out in the given order, with
    /// optional metadata. The source views may point into a file mapped from <paramref name="path"/> itself:
    /// the new file replaces it only after all bytes are written.
    /// </summary>
    public static unsafe void Save(string path, IEnumerable<TensorView> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        TensorView[] views = [.. tensors];
        var specs = new TensorSpec[views.Length];
        for (int i = 0; i < views.Length; i++)
        {
            specs[i] = TensorSpec.Of(views[i]);
        }
        using SafetensorsWriter writer = SafetensorsWriter.Create(path, specs, metadata);
        foreach (TensorView view in views)
        {
            for (long done = 0; done < view.ByteLength; done += ChunkBytes)
            {
                int n = (int)Math.Min(ChunkBytes, view.ByteLength - done);
                writer.Write(view.Name, new ReadOnlySpan<byte>(view.Data + done, n));
            }
        }
        writer.Commit();
    }
}
