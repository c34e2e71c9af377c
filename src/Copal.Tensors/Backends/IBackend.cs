namespace Copal.Tensors.Backends;

/// <summary>
/// The contract every compute backend (CPU, OpenCL, CUDA) fulfils: memory, transfers, and the few ops a LLaMA
/// forward pass and pruning statistics need. Activations are always f32; weights keep their stored dtype
/// (F32, F16 or BF16) and are converted in registers by the matmul kernels.
/// Shapes are row-major. Ops are enqueued in order on one stream; <see cref="Synchronize"/> waits for them.
/// A backend that lacks an op computes it on the CPU instead and says so once through <see cref="Log"/>.
/// </summary>
public interface IBackend : IDisposable
{
    /// <summary>What this backend runs on (name, memory, compute units).</summary>
    BackendInfo Info { get; }

    /// <summary>Where one-time notices (such as an op falling back to the CPU) are written; null for none.</summary>
    Action<string>? Log { get; set; }

    /// <summary>A zero-filled buffer of <paramref name="length"/> f32 elements.</summary>
    DeviceBuffer Allocate(long length);

    /// <summary>Copies host floats into <paramref name="destination"/> starting at element <paramref name="destinationOffset"/>.</summary>
    void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long destinationOffset = 0);

    /// <summary>Copies <c>destination.Length</c> floats out of <paramref name="source"/> starting at element <paramref name="sourceOffset"/>; waits for pending work first.</summary>
    void Download(DeviceBuffer source, Span<float> destination, long sourceOffset = 0);

    /// <summary>
    /// Makes a 2-D weight [out, in] usable by <see cref="MatMul"/> in its stored dtype. On the CPU this is a
    /// zero-copy view of <paramref name="view"/>, whose memory must then outlive the weight.
    /// </summary>
    DeviceWeight LoadWeight(TensorView view);

    /// <summary>
    /// Whether every weight this backend loads (<see cref="LoadWeight"/>, <see cref="LoadVector"/>, compressed sparse
    /// weights) is copied into memory of its own, a device's, so that the host's tensors may go once a model is
    /// loaded. False where weights stay views of the host's memory (the CPU, and a device whose missing ops run on
    /// the CPU over such views).
    /// </summary>
    bool CopiesWeightsAtLoad => false;

    /// <summary>Uploads a 1-D tensor (a norm weight, a bias) converted to f32.</summary>
    DeviceBuffer LoadVector(TensorView view);

    /// <summary>Waits until all enqueued work is done.</summary>
    void Synchronize();

    // ---- ops -----------------------------------------------------------------------------------------------

    /// <summary>y[rows, out] = x[rows, in] · Wᵀ with W = <paramref name="weight"/> [out, in]; y is a buffer apart from x.</summary>
    void MatMul(DeviceBuffer x, DeviceWeight weight, DeviceBuffer y, int rows);

    /// <summary>y[r, c] += bias[c] for r &lt; rows, c &lt; cols.</summary>
    void AddBias(DeviceBuffer y, DeviceBuffer bias, int rows, int cols);

    /// <summary>
    /// y[r, :] = x[r, :] / sqrt(mean(x[r, :]²) + eps) · weight, for each of <paramref name="rows"/> rows of <paramref name="dim"/>;
    /// y may be x (in place: Qwen3 normalizes its query and key heads so).
    /// </summary>
    void RmsNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps);

    /// <summary>
    /// Rotary embedding in place, Hugging Face rotate-half layout over the first <paramref name="rotaryDim"/> elements
    /// of each head (all of it, usually; Phi-4-mini turns three quarters): element i &lt; rotaryDim/2 pairs with
    /// i + rotaryDim/2, and the elements from rotaryDim on are left as they are. Row r is at position startPos + r.
    /// <paramref name="cos"/> and <paramref name="sin"/> are tables [maxPositions, rotaryDim/2] (frequency scaling
    /// already applied).
    /// </summary>
    void Rope(DeviceBuffer x, DeviceBuffer cos, DeviceBuffer sin, int rows, int heads, int headDim, int rotaryDim, int startPos);

    /// <summary>
    /// Causal grouped-query attention. q is [rows, heads·headDim]; query row r sits at position startPos + r and
    /// attends to positions 0..startPos + r (from <see cref="AttentionShape.FirstKey"/>(r) on under a sliding
    /// window). kCache and vCache are [positions held, kvHeads·headDim], row i holding position
    /// <see cref="AttentionShape.CacheStart"/> + i, and already hold the keys and values of those positions. Query
    /// head h reads kv head h / (heads / kvHeads). output is [rows, heads·headDim].
    /// </summary>
    void Attention(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output, in AttentionShape shape);

    /// <summary>destination[destinationOffset + i] = source[sourceOffset + i] for i &lt; count.</summary>
    void Copy(DeviceBuffer source, long sourceOffset, DeviceBuffer destination, long destinationOffset, long count);

    /// <summary>output[i] = silu(gate[i]) · up[i]; output may alias gate or up.</summary>
    void SiluMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output, long count);

    /// <summary>
    /// output[i] = gelu_tanh(gate[i]) · up[i], GELU with PyTorch's tanh approximation (Gemma's GeGLU MLP); output may
    /// alias gate or up.
    /// </summary>
    void GeluTanhMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output, long count);

    /// <summary>output[i] = a[i] + b[i]; output may alias a or b.</summary>
    void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output, long count);

    /// <summary>x[i] = x[i] · factor in place, for i &lt; count (Granite's embedding, residual and logits multipliers).</summary>
    void Scale(DeviceBuffer x, float factor, long count);

    /// <summary>output[t, :] = table[tokens[t], :] converted to f32; table is [vocab, dim].</summary>
    void Embedding(DeviceWeight table, ReadOnlySpan<int> tokens, DeviceBuffer output);

    /// <summary>Numerically stable softmax in place over each of <paramref name="rows"/> rows of <paramref name="cols"/>.</summary>
    void Softmax(DeviceBuffer x, int rows, int cols);

    /// <summary>gram[cols, cols] += x[rows, cols]ᵀ · x (f32; callers fold it into double on the host per batch).</summary>
    void AccumulateGram(DeviceBuffer x, int rows, int cols, DeviceBuffer gram);

    /// <summary>sums[c] += Σ_r x[r, c]², the squared column norms Wanda needs.</summary>
    void AccumulateColumnSquares(DeviceBuffer x, int rows, int cols, DeviceBuffer sums);

    // ---- fused ops: each is exactly a short sequence of the ops above, which is what a backend that does not fuse
    // runs (the default bodies). A GPU runs each in one launch; decode issues hundreds of launches a token.

    /// <summary>
    /// Three matmuls of one input (a layer's q, k and v projections): y0 = x · w0ᵀ, y1 = x · w1ᵀ, y2 = x · w2ᵀ, as
    /// <see cref="MatMul"/> each.
    /// </summary>
    void MatMulTriple(DeviceBuffer x, DeviceWeight w0, DeviceBuffer y0, DeviceWeight w1, DeviceBuffer y1, DeviceWeight w2, DeviceBuffer y2, int rows) =>
        FusedOps.MatMulTriple(this, x, w0, y0, w1, y1, w2, y2, rows);

    /// <summary>
    /// An MLP's gated input: output = silu(x · gateᵀ) · (x · upᵀ), that is <see cref="MatMul"/> into output and into
    /// <paramref name="upScratch"/>, then <see cref="SiluMul"/>. upScratch [rows, up.Rows] may be left unwritten.
    /// </summary>
    void MatMulSiluGate(DeviceBuffer x, DeviceWeight gate, DeviceWeight up, DeviceBuffer output, DeviceBuffer upScratch, int rows) =>
        FusedOps.MatMulSiluGate(this, x, gate, up, output, upScratch, rows);

    /// <summary>
    /// x[r, :] += delta[r, :] (the residual add), then y = RmsNorm(x) as <see cref="RmsNorm"/>. y must not alias x or
    /// delta.
    /// </summary>
    void AddRmsNorm(DeviceBuffer x, DeviceBuffer delta, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps) =>
        FusedOps.AddRmsNorm(this, x, delta, weight, y, rows, dim, eps);

    /// <summary>
    /// A layer's attention inputs: <see cref="Rope"/> on q [rows, heads·headDim] and k [rows, kvHeads·headDim] in place,
    /// then k and v [rows, kvHeads·headDim] copied into kCache and vCache at rows startPos.. (see <see cref="Attention"/>
    /// for the layouts).
    /// </summary>
    void RopeAndStore(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer cos, DeviceBuffer sin, DeviceBuffer kCache, DeviceBuffer vCache, in AttentionShape shape) =>
        FusedOps.RopeAndStore(this, q, k, v, cos, sin, kCache, vCache, shape);

    /// <summary>
    /// One row of a batched decode step, whose rows belong to different sequences: row <paramref name="row"/> of q,
    /// k and v (each [batch rows, ·]) copied into that sequence's one-row buffers in <paramref name="scratch"/>, then
    /// <see cref="RopeAndStore"/> into the sequence's caches at position shape.StartPos, <see cref="Attention"/> of
    /// the row over them, and its result copied into row <paramref name="row"/> of <paramref name="output"/>.
    /// shape.Rows is 1. A backend that fuses it may work on the batch rows in place instead of the copies, so
    /// afterwards the q and k rows and the scratch buffers hold no particular value.
    /// </summary>
    void BatchRowAttention(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, int row, DeviceBuffer cos, DeviceBuffer sin,
        DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output, in RowScratch scratch, in AttentionShape shape) =>
        FusedOps.BatchRowAttention(this, q, k, v, row, cos, sin, kCache, vCache, output, scratch, shape);
}

/// <summary>A sequence's one-row buffers that <see cref="IBackend.BatchRowAttention"/>'s plain sequence copies through.</summary>
/// <param name="Q">One query row. // [1, heads·headDim]</param>
/// <param name="K">One key row. // [1, kvHeads·headDim]</param>
/// <param name="V">One value row. // [1, kvHeads·headDim]</param>
/// <param name="Output">One attention output row. // [1, heads·headDim]</param>
public readonly record struct RowScratch(DeviceBuffer Q, DeviceBuffer K, DeviceBuffer V, DeviceBuffer Output);

/// <summary>Arguments of <see cref="IBackend.Attention"/>.</summary>
/// <param name="Rows">Query rows (tokens) of the call.</param>
/// <param name="StartPos">Position of the first row; row r is at StartPos + r.</param>
/// <param name="Heads">Query heads.</param>
/// <param name="KvHeads">Key/value heads; Heads is a multiple of it.</param>
/// <param name="HeadDim">Width of one head.</param>
/// <param name="Scale">Multiplier of the q·k scores before the softmax, usually 1/√HeadDim.</param>
/// <param name="Window">
/// Sliding-window attention (HF <c>sliding_window</c>): a row at position p attends keys p − Window + 1 … p, the
/// Window most recent positions including its own, as Hugging Face masks them. 0 attends every earlier position.
/// </param>
/// <param name="CacheStart">
/// The position row 0 of the caches holds: position t is row t − CacheStart. A sliding-window layer's cache drops
/// the positions no window reaches any more (see RunState), so it may start past 0; at most at
/// <see cref="FirstKey"/>(0), the first key the call reads. 0 without a window.
/// </param>
/// <param name="RotaryDim">The leading elements of each head RoPE turns (HF <c>partial_rotary_factor</c> · HeadDim); 0: all of them.</param>
public readonly record struct AttentionShape(int Rows, int StartPos, int Heads, int KvHeads, int HeadDim, float Scale, int Window = 0, int CacheStart = 0, int RotaryDim = 0)
{
    /// <summary>The elements of each head RoPE turns: <see cref="RotaryDim"/>, or the whole head when it is 0.</summary>
    public int Rotary => RotaryDim == 0 ? HeadDim : RotaryDim;

    /// <summary>The first key row <paramref name="row"/> attends: 0, or the start of its window.</summary>
    public int FirstKey(int row) => Window > 0 ? Math.Max(0, StartPos + row + 1 - Window) : 0;

    /// <summary>
    /// The same attention with positions counted from the caches' first row (StartPos − CacheStart, CacheStart 0):
    /// attention depends only on how far keys lie from their query, so a kernel computes it on this shape. RoPE,
    /// which depends on the positions themselves, uses the shape as it is.
    /// </summary>
    /// <exception cref="ArgumentException">CacheStart is negative, or past the first key the call reads.</exception>
    public AttentionShape InCache()
    {
        if (CacheStart == 0)
        {
            return this;
        }
        if (CacheStart < 0 || CacheStart > FirstKey(0))
        {
            throw new ArgumentException(FormattableString.Invariant(
                $"attention shape {this}: the caches start at position {CacheStart}, but the call reads keys from position {FirstKey(0)}"));
        }
        return this with { StartPos = StartPos - CacheStart, CacheStart = 0 };
    }
}

/// <summary>What a backend runs on.</summary>
/// <param name="Kind">"cpu", "ilgpu-cpu", "cuda" or "opencl".</param>
/// <param name="DeviceName">The device's name.</param>
/// <param name="MemoryBytes">The device's memory.</param>
/// <param name="ComputeUnits">Threads (CPU), multiprocessors (CUDA) or compute units (OpenCL).</param>
/// <param name="NominalMemoryBytesPerSecond">
/// The rate the device's memory is specified for, from what the driver reports (CUDA: memory clock and bus width);
/// null where it reports nothing (OpenCL, CPUs).
/// </param>
/// <param name="MaxAttentionHeadDim">
/// The widest head <see cref="IBackend.Attention"/> takes (a GPU kernel holds a head in shared memory); null where
/// any width runs (the CPU). A model loader refuses a wider model before it uploads a weight.
/// </param>
public sealed record BackendInfo(string Kind, string DeviceName, long MemoryBytes, int ComputeUnits, double? NominalMemoryBytesPerSecond = null,
    int? MaxAttentionHeadDim = null);
