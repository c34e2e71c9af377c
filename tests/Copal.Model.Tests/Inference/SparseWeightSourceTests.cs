using System.Runtime.InteropServices;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// What <c>--sparse auto</c> does with a weight on each CPU sparse path, whatever this machine runs: the break-even
/// points of the AVX-512 and AVX2 kernels differ (docs/sparse-formats.md), and a compact checkpoint whose format
/// decodes slower than dense says so once.
/// </summary>
public sealed unsafe class SparseWeightSourceTests : IDisposable
{
    private const int Rows = 64, Cols = 256;
    private readonly List<nint> _native = [];
    private readonly CpuBackend _backend = new(threads: 1);

    [Theory]
    [InlineData(SparseGemvPath.Avx512, true)]
    [InlineData(SparseGemvPath.Avx2, false)]
    [InlineData(SparseGemvPath.Scalar, false)]
    public void A_dense_2_4_weight_converts_only_where_2_4_was_measured_faster(SparseGemvPath path, bool converts)
    {
        TensorView dense = Dense(TwoFour(new Random(1)));
        using var source = new SparseWeightSource(new Dictionary<string, string>(), SparseLoadMode.Auto, path: path);
        using DeviceWeight? weight = source.TryLoad(_backend, "w", Rows, Cols, dense, _ => null, "test");
        Assert.Equal(converts, weight is CpuSparseWeight);
    }

    /// <summary>
    /// The advisor picks 2:4 for a valid F16 weight on the AVX-512 path (measured 1.38–1.69× dense), but the sampled
    /// pre-check before measuring compared it with the F16 bitmask's break-even, which was never measured (infinite),
    /// so no F16 weight was ever measured and `--sparse auto` left every one dense.
    /// </summary>
    [Theory]
    [InlineData(SparseGemvPath.Avx512, true)]
    [InlineData(SparseGemvPath.Avx2, false)]
    public void A_dense_2_4_f16_weight_converts_where_2_4_was_measured_faster(SparseGemvPath path, bool converts)
    {
        TensorView dense = View("w", DType.F16, [Rows, Cols], MemoryMarshal.AsBytes(TwoFour(new Random(6)).AsSpan()));
        using var source = new SparseWeightSource(new Dictionary<string, string>(), SparseLoadMode.Auto, path: path);
        using DeviceWeight? weight = source.TryLoad(_backend, "w", Rows, Cols, dense, _ => null, "test");
        Assert.Equal(converts, weight is CpuSparseWeight { Matrix: NMSparseMatrix });
        Assert.Equal(converts ? 1 : 0, source.Converted);
    }

    /// <summary>
    /// The sampled pre-check took every (count / 4096)-th element: where that stride is a multiple of the width (4096
    /// rows of 64 here; a 4096-wide square weight, as Llama-2-7B's attention, alike) every sample is the same column.
    /// A valid 2:4 weight whose first column is kept (an input channel Wanda keeps for its large activations) was then
    /// sampled as fully dense and left unmeasured, though it is half zeros and 2:4 pays.
    /// </summary>
    [Theory]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void A_2_4_weight_whose_kept_column_lines_up_with_the_sample_stride_still_converts(DType dtype)
    {
        const int rows = 4096, cols = 64;
        ushort[] bits = new ushort[rows * cols];
        var rnd = new Random(7);
        for (int g = 0; g < bits.Length; g += 4)
        {
            bits[g] = 0x3C00; // position 0 of every group kept (1.0 in F16, 1.875 in BF16)
            bits[g + 1 + rnd.Next(3)] = 0xBC00;
        }
        TensorView dense = View("w", dtype, [rows, cols], MemoryMarshal.AsBytes(bits.AsSpan()));
        using var source = new SparseWeightSource(new Dictionary<string, string>(), SparseLoadMode.Auto, path: SparseGemvPath.Avx512);
        using DeviceWeight? weight = source.TryLoad(_backend, "w", rows, cols, dense, _ => null, "test");
        Assert.True(weight is CpuSparseWeight { Matrix: NMSparseMatrix }, $"a valid 2:4 {dtype} weight at 50% stayed dense");
    }

    [Theory]
    [InlineData(SparseGemvPath.Avx2, 0.80, true)]
    [InlineData(SparseGemvPath.Avx2, 0.55, false)]
    [InlineData(SparseGemvPath.Avx512, 0.55, true)]
    public void A_sparse_bf16_weight_converts_to_the_bitmask_above_the_paths_break_even(SparseGemvPath path, double sparsity, bool converts)
    {
        var rnd = new Random(2);
        ushort[] bits = Enumerable.Range(0, Rows * Cols).Select(_ => rnd.NextDouble() < sparsity ? (ushort)0 : (ushort)0x3F80).ToArray();
        using var source = new SparseWeightSource(new Dictionary<string, string>(), SparseLoadMode.Auto, path: path);
        using DeviceWeight? weight = source.TryLoad(_backend, "w", Rows, Cols, Dense(bits), _ => null, "test");
        Assert.Equal(converts, weight is CpuSparseWeight { Matrix: BitmaskSparseMatrix });
    }

    [Theory]
    [InlineData(SparseGemvPath.Avx2, true)]
    [InlineData(SparseGemvPath.Avx512, false)]
    public void A_compact_2_4_checkpoint_loads_compact_and_says_once_where_dense_decodes_faster(SparseGemvPath path, bool notes)
    {
        using NMSparseMatrix matrix = NMSparseMatrix.FromDenseBf16("a", TwoFour(new Random(3)), Rows, Cols, 2, 4);
        using NMSparseMatrix other = NMSparseMatrix.FromDenseBf16("b", TwoFour(new Random(4)), Rows, Cols, 2, 4);
        var metadata = new Dictionary<string, string>();
        var parts = new Dictionary<string, TensorView>();
        foreach (SparseMatrix m in new SparseMatrix[] { matrix, other })
        {
            SparseEncoding encoding = SparseTensorCodec.Encode(m);
            foreach (var (k, v) in encoding.Metadata)
            {
                metadata[k] = v;
            }
            foreach (SparsePart p in encoding.Parts)
            {
                parts[p.Name] = View(p.Name, p.DType, p.Shape, p.Data.Span);
            }
        }
        var log = new List<string>();
        using var source = new SparseWeightSource(metadata, SparseLoadMode.Auto, log.Add, path);
        using DeviceWeight? a = source.TryLoad(_backend, "a", Rows, Cols, null, name => parts.TryGetValue(name, out var v) ? v : null, "test");
        using DeviceWeight? b = source.TryLoad(_backend, "b", Rows, Cols, null, name => parts.TryGetValue(name, out var v) ? v : null, "test");
        Assert.IsType<CpuSparseWeight>(a);
        Assert.IsType<CpuSparseWeight>(b);
        Assert.Equal(notes ? 1 : 0, log.Count);
        if (notes)
        {
            Assert.Contains("2:4", log[0], StringComparison.Ordinal);
            Assert.Contains("--sparse off", log[0], StringComparison.Ordinal);
        }
    }

    [DeviceFact("ilgpu-cpu")]
    public void A_compact_weight_densified_for_a_device_keeps_no_host_copy()
    {
        // --sparse off: the device gets the dense weight. It holds a copy of its own, so the source frees the dense
        // bytes at once (the CPU, whose weight views them, keeps them); the device's product is still the CPU's.
        using NMSparseMatrix matrix = NMSparseMatrix.FromDenseBf16("a", TwoFour(new Random(5)), Rows, Cols, 2, 4);
        SparseEncoding encoding = SparseTensorCodec.Encode(matrix);
        var parts = encoding.Parts.ToDictionary(p => p.Name, p => View(p.Name, p.DType, p.Shape, p.Data.Span));
        var metadata = new Dictionary<string, string>(encoding.Metadata);
        float[] x = [.. Enumerable.Range(0, Cols).Select(i => (float)Math.Sin(i))];
        float[] Product(IBackend backend, out long held)
        {
            using var source = new SparseWeightSource(metadata, SparseLoadMode.Off);
            using DeviceWeight weight = source.TryLoad(backend, "a", Rows, Cols, null, name => parts.TryGetValue(name, out var v) ? v : null, "test")!;
            held = source.HeldBytes;
            using DeviceBuffer input = backend.Allocate(Cols), output = backend.Allocate(Rows);
            backend.Upload(x, input);
            backend.MatMul(input, weight, output, 1);
            var y = new float[Rows];
            backend.Download(output, y);
            return y;
        }
        float[] expected = Product(_backend, out long cpuHeld);
        Assert.Equal((long)Rows * Cols * sizeof(ushort), cpuHeld);
        using IBackend device = BackendFactory.Create(DeviceFactAttribute.SpecFor("ilgpu-cpu", out _)!);
        Assert.True(device.CopiesWeightsAtLoad);
        float[] actual = Product(device, out long deviceHeld);
        Assert.Equal(0, deviceHeld);
        Tolerances.AssertClose(actual, expected, what: "densified product");
    }

    public void Dispose()
    {
        _backend.Dispose();
        _native.ForEach(p => NativeMemory.Free((void*)p));
    }

    /// <summary>BF16 bits (or F16 bits of other finite values) where every group of four columns keeps two nonzeros.</summary>
    private static ushort[] TwoFour(Random rnd)
    {
        ushort[] bits = new ushort[Rows * Cols];
        for (int g = 0; g < bits.Length; g += 4)
        {
            int a = rnd.Next(4), b = (a + 1 + rnd.Next(3)) % 4;
            bits[g + a] = 0x3F80;
            bits[g + b] = 0xBF00;
        }
        return bits;
    }

    private TensorView Dense(ushort[] bits) => View("w", DType.BF16, [Rows, Cols], MemoryMarshal.AsBytes(bits.AsSpan()));

    private TensorView View(string name, DType dtype, long[] shape, ReadOnlySpan<byte> bytes)
    {
        byte* p = (byte*)NativeMemory.Alloc((nuint)Math.Max(bytes.Length, 1));
        _native.Add((nint)p);
        bytes.CopyTo(new Span<byte>(p, bytes.Length));
        return new TensorView(name, dtype, shape, p, bytes.Length);
    }
}
