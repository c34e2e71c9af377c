using BenchmarkDotNet.Attributes;
using Copal.Tensors;
using Copal.Tensors.Safetensors;

namespace Copal.Benchmarks;

/// <summary>
/// Opening a checkpoint (map + full header validation) and re-saving it through the streaming writer, on a
/// synthetic file of 64 tensors of 1024×1024 F32 (256 MiB) written once in setup. Resave throughput in GB/s =
/// 256 MiB / time.
/// </summary>
public class SafetensorsBenchmarks
{
    private string _dir = "";
    private string _path = "";

    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), "copal-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _path = Path.Combine(_dir, "model.safetensors");
        var specs = Enumerable.Range(0, 64).Select(i => new TensorSpec($"model.layers.{i}.weight", DType.F32, [1024, 1024])).ToList();
        byte[] chunk = new byte[1 << 20];
        new Random(1).NextBytes(chunk);
        using var writer = SafetensorsWriter.Create(_path, specs);
        foreach (TensorSpec spec in specs)
        {
            for (long done = 0; done < spec.ByteLength; done += chunk.Length)
            {
                writer.Write(spec.Name, chunk);
            }
        }
        writer.Commit();
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    [Benchmark]
    public int Open()
    {
        using SafetensorsFile file = SafetensorsFile.Open(_path);
        return file.Tensors.Count;
    }

    [Benchmark]
    public void Resave()
    {
        using SafetensorsFile file = SafetensorsFile.Open(_path);
        SafetensorsSaver.Save(Path.Combine(_dir, "copy.safetensors"), file.Tensors, file.Metadata);
    }
}
