using Copal.Tensors.Kernels;

namespace Copal.Tensors.Backends.Cpu;

/// <summary>
/// The <see cref="CpuBackend"/> ops as range bodies: each struct holds one op's arguments, so spreading an op over
/// threads allocates nothing (a lambda here would allocate a closure on every call of every layer).
/// </summary>
internal static unsafe class CpuOps
{
    public readonly struct Bias(float* y, float* bias, int rows, int cols) : IRangeBody
    {
        public void Run(int start, int end) =>
            Kernels.Add.Bias(new Span<float>(y, rows * cols), new ReadOnlySpan<float>(bias, cols), start, end);
    }

    public readonly struct Norm(float* x, float* weight, float* y, int count, int dim, float eps) : IRangeBody
    {
        public void Run(int start, int end) =>
            Kernels.RmsNorm.Rows(new ReadOnlySpan<float>(x, count), new ReadOnlySpan<float>(weight, dim), eps, start, end, new Span<float>(y, count));
    }

    public readonly struct Rotary(float* x, float* cos, float* sin, int count, int table, int heads, int headDim, int rotaryDim, int startPos) : IRangeBody
    {
        public void Run(int start, int end) =>
            Kernels.Rope.Rows(new Span<float>(x, count), new ReadOnlySpan<float>(cos, table), new ReadOnlySpan<float>(sin, table),
                heads, headDim, rotaryDim, startPos, start, end);
    }

    public readonly struct Attend(float* q, float* k, float* v, float* output, int qLength, int kLength, int vLength, int outputLength, AttentionShape shape,
        HostBufferFit fit) : IRangeBody
    {
        public void Run(int start, int end)
        {
            // Steady-state decode allocates nothing: the thread's scratch grows ahead of the context (AttentionScratch).
            float[] scores = AttentionScratch.Get(Kernels.Attention.ScratchLength(shape), fit);
            Kernels.Attention.Compute(new ReadOnlySpan<float>(q, qLength), new ReadOnlySpan<float>(k, kLength), new ReadOnlySpan<float>(v, vLength),
                shape, start, end, scores, new Span<float>(output, outputLength));
        }
    }

    public readonly struct AttendBlocked(float* q, float* k, float* v, float* output, int qLength, int kLength, int vLength, int outputLength, AttentionShape shape,
        HostBufferFit fit) : IRangeBody
    {
        public void Run(int start, int end)
        {
            float[] scratch = AttentionScratch.Get(BlockedAttention.ScratchLength(shape), fit);
            BlockedAttention.Compute(new ReadOnlySpan<float>(q, qLength), new ReadOnlySpan<float>(k, kLength), new ReadOnlySpan<float>(v, vLength),
                shape, start, end, scratch, new Span<float>(output, outputLength));
        }
    }

    public readonly struct Swiglu(float* gate, float* up, float* output) : IRangeBody
    {
        public void Run(int start, int end) =>
            Kernels.SiluMul.Compute(new ReadOnlySpan<float>(gate + start, end - start), new ReadOnlySpan<float>(up + start, end - start),
                new Span<float>(output + start, end - start));
    }

    public readonly struct Geglu(float* gate, float* up, float* output) : IRangeBody
    {
        public void Run(int start, int end) =>
            Kernels.GeluTanhMul.Compute(new ReadOnlySpan<float>(gate + start, end - start), new ReadOnlySpan<float>(up + start, end - start),
                new Span<float>(output + start, end - start));
    }

    public readonly struct Sum(float* a, float* b, float* output) : IRangeBody
    {
        public void Run(int start, int end) =>
            Kernels.Add.Compute(new ReadOnlySpan<float>(a + start, end - start), new ReadOnlySpan<float>(b + start, end - start),
                new Span<float>(output + start, end - start));
    }

    public readonly struct Scaled(float* x, float factor) : IRangeBody
    {
        public void Run(int start, int end) => Kernels.Add.Scale(new Span<float>(x + start, end - start), factor);
    }

    public readonly struct Normalize(float* x, int rows, int cols) : IRangeBody
    {
        public void Run(int start, int end) => Kernels.Softmax.Rows(new Span<float>(x, rows * cols), cols, start, end);
    }

    public readonly struct Squares(float* x, float* sums, int rows, int cols) : IRangeBody
    {
        public void Run(int start, int end) =>
            ColumnSquares.Accumulate(new ReadOnlySpan<float>(x, rows * cols), rows, new Span<float>(sums, cols), start, end);
    }
}
