namespace Copal.Tensors.Safetensors;

/// <summary>Writes existing tensors to a new safetensors file in one call.</summary>
public static class SafetensorsSaver
{
    /// <summary>
    /// Saves <paramref name="tensors"/> to <paramref name="path"/> atomically, laid out in the given order, with
    /// optional metadata. The source views may point into a file mapped from <paramref name="path"/> itself:
    /// the new file replaces it only after all bytes are written.
    /// </summary>
    public static void Save(string path, IEnumerable<TensorView> tensors, IReadOnlyDictionary<string, string>? metadata = null)
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
            writer.Write(view.Name, view);
        }
        writer.Commit();
    }
}
