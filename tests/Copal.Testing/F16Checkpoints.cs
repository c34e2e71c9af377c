using System.Runtime.InteropServices;
using Copal.Tensors;
using Copal.Tensors.Numerics;
using Copal.Tensors.Safetensors;

namespace Copal.Testing;

/// <summary>Real checkpoints stored in F16 (as Llama-2-7b-hf stores its linears), made from F32 ones for a test.</summary>
public static class F16Checkpoints
{
    /// <summary>
    /// Copies the single-file model <paramref name="model"/> into <paramref name="folder"/> (its other files as they
    /// are) with its F32 tensors that <paramref name="which"/> picks (all by default) stored F16; returns the folder.
    /// </summary>
    public static unsafe string Copy(string model, string folder, Func<string, bool>? which = null)
    {
        Directory.CreateDirectory(folder);
        foreach (string file in Directory.GetFiles(model).Where(f => Path.GetFileName(f) != SafetensorsCheckpoint.SingleFileName))
        {
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        }
        var owned = new List<nint>();
        try
        {
            using var source = SafetensorsCheckpoint.Open(model);
            var views = new List<TensorView>();
            foreach (TensorView t in source.Tensors)
            {
                if (t.DType != DType.F32 || !(which?.Invoke(t.Name) ?? true))
                {
                    views.Add(t);
                    continue;
                }
                byte* data = (byte*)NativeMemory.Alloc((nuint)Math.Max(t.ElementCount * 2, 1));
                owned.Add((nint)data);
                FloatConvert.FromSingle(t.AsSpan<float>(), new Span<Half>(data, checked((int)t.ElementCount)));
                views.Add(new TensorView(t.Name, DType.F16, t.Shape, data, t.ElementCount * 2));
            }
            SafetensorsSaver.Save(Path.Combine(folder, SafetensorsCheckpoint.SingleFileName), views, source.MergedMetadata());
        }
        finally
        {
            owned.ForEach(p => NativeMemory.Free((void*)p));
        }
        return folder;
    }
}
