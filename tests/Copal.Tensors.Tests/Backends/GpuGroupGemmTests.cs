using Copal.Tensors.Backends.Ilgpu;
using Copal.Tensors.Tests.Kernels;

namespace Copal.Tensors.Tests.Backends;

/// <summary>
/// The GEMM (prefill's matmul, dense and over the compressed views) with the group a GPU launches it with, 16 × 16
/// threads for a 64 × 64 tile, run on ILGPU's CPU accelerator against the CPU backend. The op tests' groups are
/// smaller, and there each thread stages several quads of a tile; on a GPU each stages one, held in registers over
/// the tile before (see <c>MatMulKernels.Gemm</c>).
/// </summary>
public sealed class GpuGroupGemmTests(IlgpuCpuGpuGroupsFixture fixture) : IClassFixture<IlgpuCpuGpuGroupsFixture>
{
    [Fact]
    public void The_gemm_runs_with_a_gpus_group()
    {
        Assert.Equal(16, ((IlgpuBackend)fixture.Backend).Plan.GemmThreads);
    }

    public static TheoryData<DType, int, int, int> GemmCases()
    {
        var data = new TheoryData<DType, int, int, int>();
        foreach (DType dtype in Rand.WeightDTypes)
        {
            data.Add(dtype, 3, 33, 65);     // one partial tile; the depth ends inside a quad
            data.Add(dtype, 70, 130, 40);   // two row tiles and three output tiles, three depth steps
            data.Add(dtype, 65, 64, 16);    // one depth step: only the prologue's quads are stored
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(GemmCases))]
    public void Gemm_matches_cpu(DType dtype, int rows, int outs, int cols) =>
        BackendOpsTests.CheckMatMul(fixture.Backend, dtype, rows, outs, cols);

    [Theory]
    [InlineData("2:4", DType.BF16, 17, 70, 136)]
    [InlineData("4:8", DType.BF16, 19, 37, 136)]
    [InlineData("bitmask", DType.F32, 66, 17, 203)]
    public void Gemm_over_compressed_weights_matches_cpu(string format, DType dtype, int rows, int outs, int cols) =>
        BackendOpsTests.CheckSparseMatMul(fixture.Backend, format, dtype, rows, outs, cols);
}
