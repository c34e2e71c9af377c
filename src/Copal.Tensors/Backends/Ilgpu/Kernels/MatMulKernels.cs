using System.Runtime.CompilerServices;
using ILGPU;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>
/// y[rows, outs] = x[rows, cols] · Wᵀ for W [outs, cols] in its stored dtype. Group and grid sizes come from the
/// launch (<see cref="LaunchPlan"/>), so the same code runs 256-thread groups on a GPU and one-thread groups on
/// ILGPU's CPU accelerator. Thread indices and dimensions are read once into locals: on the CPU accelerator each
/// read is a thread-context lookup.
/// </summary>
internal static class MatMulKernels
{
    /// <summary>Inner-dimension depth of one GEMM step staged in shared memory.</summary>
    public const int TileK = 16;

    /// <summary>Largest output tile side: 16 threads × 4 outputs each.</summary>
    public const int MaxTile = 64;

    /// <summary>Outputs per thread along each tile side.</summary>
    public const int PerThread = 4;

    // A shared tile row is padded by four floats: rows stay 16-byte aligned for the vector loads of the inner loop,
    // and the staging loop's column-wise stores (16 consecutive k a half-warp) spread over 16 banks, not one.
    private const int Pitch = MaxTile + 4;

    private const int PitchQuads = Pitch / 4;

    /// <summary>
    /// rows = 1. A team of lanes (one warp on a GPU, one thread on the CPU accelerator) owns an output feature at a
    /// time (<see cref="OutputTeams"/>): its lanes stride over W's row together, so the row is read once and coalesced, then the team sums its
    /// partial dot products with warp shuffles. Decode is bound by memory, and a warp's throughput by the bytes it
    /// keeps in flight: where cols is a multiple of 8 each lane takes eight weights in one 16-byte load
    /// (<see cref="IWeightView.Load8"/>) and issues six such loads before it uses any, 3 KB in flight a warp for
    /// BF16; the matching x is read as 16-byte <see cref="Quad"/>s (the buffer starts 16-byte aligned), whole
    /// 128-byte lines across the warp.
    /// </summary>
    public static void Gemv<TW>(ArrayView<float> x, TW w, ArrayView<float> y, int outs, int cols)
        where TW : struct, IWeightView
    {
        ArrayView<Quad> x4 = x.Cast<Quad>();
        (int team, int lane, int first, int stride) = OutputTeams.Assign();
        for (int o = first; o < outs; o += stride)
        {
            OutputTeams.Store(y, o, RowDot(x, x4, w, (long)o * cols, cols, team, lane), team, lane);
        }
    }

    /// <summary>
    /// rows = 1, three weights of one input (a layer's q, k and v projections, <see cref="IBackend.MatMulTriple"/>) in
    /// one launch: the output features are w0's, then w1's, then w2's, a team each as in <see cref="Gemv"/>. A team's
    /// features all lie in one weight, so the branch never splits a warp. Dense and compressed weights (<see cref="IRowDot"/>).
    /// </summary>
    public static void GemvTriple<TR>(ArrayView<float> x, TR w0, TR w1, TR w2, ArrayView<float> y0, ArrayView<float> y1, ArrayView<float> y2,
        int outs0, int outs1, int outs2)
        where TR : struct, IRowDot
    {
        (int team, int lane, int first, int stride) = OutputTeams.Assign();
        int end1 = outs0 + outs1, outs = end1 + outs2;
        for (int o = first; o < outs; o += stride)
        {
            if (o < outs0)
            {
                OutputTeams.Store(y0, o, w0.Dot(x, o, team, lane), team, lane);
            }
            else if (o < end1)
            {
                OutputTeams.Store(y1, o - outs0, w1.Dot(x, o - outs0, team, lane), team, lane);
            }
            else
            {
                OutputTeams.Store(y2, o - end1, w2.Dot(x, o - end1, team, lane), team, lane);
            }
        }
    }

    /// <summary>
    /// rows = 1, an MLP's gate and up projections and SiLU·mul in one launch (<see cref="IBackend.MatMulSiluGate"/>):
    /// a team computes feature o of both, then writes silu(gate) · up, the value <see cref="ElementwiseKernels.SiluMul"/>
    /// gives the two outputs. Dense and compressed weights (<see cref="IRowDot"/>).
    /// </summary>
    public static void GemvSiluGate<TR>(ArrayView<float> x, TR gate, TR up, ArrayView<float> y, int outs)
        where TR : struct, IRowDot
    {
        (int team, int lane, int first, int stride) = OutputTeams.Assign();
        for (int o = first; o < outs; o += stride)
        {
            float g = OutputTeams.Sum(gate.Dot(x, o, team, lane), team);
            float u = OutputTeams.Sum(up.Dot(x, o, team, lane), team);
            if (lane == 0)
            {
                y[o] = ElementwiseKernels.SiluTimes(g, u);
            }
        }
    }

    /// <summary>
    /// This lane's share of x · W[row]: the team's lanes stride over the row together. Where cols is a multiple of 8
    /// each lane takes eight weights in one 16-byte load and issues <see cref="RowLoadsInFlight"/> such loads before
    /// it uses any, the last step's too: a step past the row's end re-reads the lane's first element (a valid
    /// address) and adds nothing, so no step of a row waits out its loads one at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float RowDot<TW>(ArrayView<float> x, ArrayView<Quad> x4, TW w, long rowBase, int cols, int team, int lane)
        where TW : struct, IWeightView
    {
        float acc = 0f;
        if ((cols & 7) == 0)
        {
            int count = cols >> 3;
            float acc1 = 0f, acc2 = 0f, acc3 = 0f;
            for (int e = lane; e < count; e += RowLoadsInFlight * team)
            {
                int e1 = e + team, e2 = e1 + team, e3 = e2 + team, e4 = e3 + team, e5 = e4 + team;
                int c1 = e1 < count ? e1 : e, c2 = e2 < count ? e2 : e, c3 = e3 < count ? e3 : e, c4 = e4 < count ? e4 : e;
                int c5 = e5 < count ? e5 : e;
                Octet w0 = w.Load8(rowBase + (8L * e)), w1 = w.Load8(rowBase + (8L * c1));
                Octet w2 = w.Load8(rowBase + (8L * c2)), w3 = w.Load8(rowBase + (8L * c3));
                Octet w4 = w.Load8(rowBase + (8L * c4)), w5 = w.Load8(rowBase + (8L * c5));
                acc += Dot8(x4, e, w0) + (e4 < count ? Dot8(x4, c4, w4) : 0f);
                acc1 += e1 < count ? Dot8(x4, c1, w1) + (e5 < count ? Dot8(x4, c5, w5) : 0f) : 0f;
                acc2 += e2 < count ? Dot8(x4, c2, w2) : 0f;
                acc3 += e3 < count ? Dot8(x4, c3, w3) : 0f;
            }
            return (acc + acc1) + (acc2 + acc3);
        }
        for (int c = lane; c < cols; c += team)
        {
            acc += x[c] * w.Load(rowBase + c);
        }
        return acc;
    }

    /// <summary>
    /// 16-byte weight loads a lane issues before it uses any: 3 KB in flight a warp for BF16. A GEMV has about one
    /// wave of warps for a 7B's 4,096-feature projections, so what a warp keeps in flight is what the multiprocessor
    /// does: four loads (2 KB) gave the H200's 4,096-wide projections 2.3-3.0 TB/s of its 4.5 streaming read. Eight
    /// took the BF16 GEMV to 71 registers (three groups a multiprocessor); six keep it at 56 (four), and on the H200
    /// took the 7B's gate·up from 2.9 to 3.5 TB/s and its down projection from 3.0 to 3.3.
    /// </summary>
    private const int RowLoadsInFlight = 6;

    /// <summary>x[8e … 8e + 7] · <paramref name="w"/>.</summary>
    private static float Dot8(ArrayView<Quad> x4, int e, Octet w)
    {
        Quad a = x4[2 * e], b = x4[(2 * e) + 1];
        return (a.X * w.Low.X) + (a.Y * w.Low.Y) + (a.Z * w.Low.Z) + (a.W * w.Low.W)
            + (b.X * w.High.X) + (b.Y * w.High.Y) + (b.Z * w.High.Z) + (b.W * w.High.W);
    }

    /// <summary>
    /// rows &gt; 1. A (DimX × DimY)-thread group computes a (4·DimY) × (4·DimX) block of y; thread (tx, ty) owns the
    /// 4 × 4 outputs at rows 4·ty … 4·ty + 3 and columns 4·tx … 4·tx + 3 of the block. Tiles of x and W, TileK deep
    /// along the inner dimension, are staged in shared memory transposed to [k][m] and [k][n], so each step of the
    /// inner loop reads a thread's four x values and four W values as two 16-byte vector loads (ld.shared.v4) for
    /// sixteen multiply-adds; with scalar loads the loop was bound by shared-memory bandwidth, 8 loads per 16.
    /// <para>
    /// Staging is software-pipelined. A thread stages a quad of a tile at a time: four consecutive depths of one row of
    /// x or one feature of W, so its four loads share one address. It holds its first quad of each operand for the
    /// next tile in registers, loaded right after the barrier that publishes the current tile, so their memory
    /// latency passes under the current tile's multiply-adds instead of stalling the group before every tile. A
    /// 16 × 16 group's tile is exactly one quad of each operand a thread; smaller groups (the CPU accelerator's) stage
    /// the rest of a tile in further rounds.
    /// </para>
    /// <para>
    /// A group per output block: grid (column blocks, row blocks). <see cref="GemmGridStride"/> is the same
    /// computation for ILGPU's CPU accelerator.
    /// </para>
    /// </summary>
    public static void Gemm<TW>(ArrayView<float> x, TW w, ArrayView<float> y, int rows, int outs, int cols)
        where TW : struct, IWeightView
    {
        ArrayView<Quad> xs4 = SharedMemory.Allocate<Quad>(TileK * PitchQuads);
        ArrayView<Quad> ws4 = SharedMemory.Allocate<Quad>(TileK * PitchQuads);
        var group = new GemmGroup(Group.IdxX, Group.IdxY, Group.DimX, Group.DimY);
        GemmBlock(x, w, y, rows, outs, cols, xs4, ws4, Grid.IdxX * group.TileN, Grid.IdxY * group.TileM, group);
    }

    /// <summary>
    /// <see cref="Gemm"/> with a one-dimensional grid whose groups loop over the output blocks, block b at
    /// (row block b / column blocks, column block b % column blocks), for ILGPU's CPU accelerator: it keeps every
    /// group's shared memory until the launch ends, so a group per block held 8.7 KB per 16 outputs there, 2.4 GB
    /// for 128 rows × a 32k vocabulary, and that GEMM took 6 s against under 1 s with the loop. A GPU keeps
    /// <see cref="Gemm"/> (so do the tests' GPU-shaped CPU groups, <see cref="LaunchPlan.GemmGridStride"/>): with the
    /// loop ptxas gave the BF16 GEMM 71 registers a thread (the 2:4 one 89), over the 64 that four groups a
    /// multiprocessor need.
    /// </summary>
    public static void GemmGridStride<TW>(ArrayView<float> x, TW w, ArrayView<float> y, int rows, int outs, int cols)
        where TW : struct, IWeightView
    {
        ArrayView<Quad> xs4 = SharedMemory.Allocate<Quad>(TileK * PitchQuads);
        ArrayView<Quad> ws4 = SharedMemory.Allocate<Quad>(TileK * PitchQuads);
        var group = new GemmGroup(Group.IdxX, Group.IdxY, Group.DimX, Group.DimY);
        int blocksN = (outs + group.TileN - 1) / group.TileN, blocks = blocksN * ((rows + group.TileM - 1) / group.TileM);
        for (int b = Grid.IdxX; b < blocks; b += Grid.DimX)
        {
            int blockM = b / blocksN;
            GemmBlock(x, w, y, rows, outs, cols, xs4, ws4, (b - (blockM * blocksN)) * group.TileN, blockM * group.TileM, group);
        }
    }

    /// <summary>A GEMM thread's place in its group, read once: on the CPU accelerator each read is a thread-context lookup.</summary>
    private readonly struct GemmGroup(int tx, int ty, int dx, int dy)
    {
        public int Tx => tx;

        public int Ty => ty;

        public int TileN => dx * PerThread;

        public int TileM => dy * PerThread;

        public int Thread => (ty * dx) + tx;

        public int Threads => dx * dy;
    }

    /// <summary>One output block of <see cref="Gemm"/>: rows from <paramref name="m0"/>, features from <paramref name="n0"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GemmBlock<TW>(ArrayView<float> x, TW w, ArrayView<float> y, int rows, int outs, int cols,
        ArrayView<Quad> xs4, ArrayView<Quad> ws4, int n0, int m0, GemmGroup group)
        where TW : struct, IWeightView
    {
        ArrayView<float> xs = xs4.Cast<float>(), ws = ws4.Cast<float>();
        int tx = group.Tx, ty = group.Ty, thread = group.Thread, threads = group.Threads;
        var xTile = new StagedTile(m0, rows, group.TileM);
        var wTile = new StagedTile(n0, outs, group.TileN);
        int quads = Math.Max(xTile.Quads, wTile.Quads);

        // The first tile's first quads; every later tile's are loaded during the tile before it.
        Quad xq = xTile.Load(x, thread, 0, cols), wq = wTile.Load(w, thread, 0, cols);

        float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f;
        float c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f;
        float c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f;
        float c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f;
        for (int k0 = 0; k0 < cols; k0 += TileK)
        {
            xTile.Store(xs, thread, xq);
            wTile.Store(ws, thread, wq);
            for (int q = thread + threads; q < quads; q += threads)
            {
                Quad a = xTile.Load(x, q, k0, cols), b = wTile.Load(w, q, k0, cols);
                xTile.Store(xs, q, a);
                wTile.Store(ws, q, b);
            }
            Group.Barrier();

            // The next tile's first quads (zeros past the last tile: Load checks cols).
            xq = xTile.Load(x, thread, k0 + TileK, cols);
            wq = wTile.Load(w, thread, k0 + TileK, cols);

            for (int k = 0; k < TileK; k++)
            {
                Quad a = xs4[(k * PitchQuads) + ty], b = ws4[(k * PitchQuads) + tx];
                c00 += a.X * b.X; c01 += a.X * b.Y; c02 += a.X * b.Z; c03 += a.X * b.W;
                c10 += a.Y * b.X; c11 += a.Y * b.Y; c12 += a.Y * b.Z; c13 += a.Y * b.W;
                c20 += a.Z * b.X; c21 += a.Z * b.Y; c22 += a.Z * b.Z; c23 += a.Z * b.W;
                c30 += a.W * b.X; c31 += a.W * b.Y; c32 += a.W * b.Z; c33 += a.W * b.W;
            }

            // Also ends the block: the shared tiles are free for the group's next block.
            Group.Barrier();
        }
        int r0 = m0 + (PerThread * ty), o0 = n0 + (PerThread * tx);
        StoreRow(y, r0, o0, rows, outs, c00, c01, c02, c03);
        StoreRow(y, r0 + 1, o0, rows, outs, c10, c11, c12, c13);
        StoreRow(y, r0 + 2, o0, rows, outs, c20, c21, c22, c23);
        StoreRow(y, r0 + 3, o0, rows, outs, c30, c31, c32, c33);
    }

    /// <summary>
    /// One operand's GEMM tile as its staging sees it: <paramref name="tileLines"/> lines (rows of x or features of W)
    /// from <paramref name="firstLine"/>, each TileK deep, in quads of four consecutive depths; quad q is line
    /// q / 4 at depths 4·(q % 4) … + 3, so consecutive threads read consecutive 16-element spans of a line.
    /// </summary>
    private readonly struct StagedTile(int firstLine, int lines, int tileLines)
    {
        private const int QuadsPerLine = TileK / 4;

        public int Quads => tileLines * QuadsPerLine;

        /// <summary>Quad q of the tile at depth k0; an element past the tile, the matrix's lines or its columns is 0.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Quad Load(ArrayView<float> x, int q, int k0, int cols)
        {
            int line = q / QuadsPerLine, c = k0 + (4 * (q - (line * QuadsPerLine))), r = firstLine + line;
            if (q >= Quads || r >= lines || c >= cols)
            {
                return default;
            }
            long at = ((long)r * cols) + c;
            if ((cols & 3) == 0)
            {
                // Every LLaMA width: the quad is whole and 16-byte aligned, one vector load.
                return x.Cast<Quad>()[at >> 2];
            }
            return new Quad
            {
                X = x[at],
                Y = c + 1 < cols ? x[at + 1] : 0f,
                Z = c + 2 < cols ? x[at + 2] : 0f,
                W = c + 3 < cols ? x[at + 3] : 0f,
            };
        }

        /// <inheritdoc cref="Load(ArrayView{float}, int, int, int)"/>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Quad Load<TW>(TW w, int q, int k0, int cols)
            where TW : struct, IWeightView
        {
            int line = q / QuadsPerLine, c = k0 + (4 * (q - (line * QuadsPerLine))), o = firstLine + line;
            if (q >= Quads || o >= lines || c >= cols)
            {
                return default;
            }
            if (w.LoadsVectors && (w.WidthInQuads || (cols & 3) == 0))
            {
                return w.LoadQuadAt(o, c, cols);
            }
            return new Quad
            {
                X = w.LoadAt(o, c, cols),
                Y = c + 1 < cols ? w.LoadAt(o, c + 1, cols) : 0f,
                Z = c + 2 < cols ? w.LoadAt(o, c + 2, cols) : 0f,
                W = c + 3 < cols ? w.LoadAt(o, c + 3, cols) : 0f,
            };
        }

        /// <summary>Quad q into the shared tile, transposed to [depth][line].</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Store(ArrayView<float> shared, int q, Quad v)
        {
            if (q < Quads)
            {
                int line = q / QuadsPerLine, at = (4 * (q - (line * QuadsPerLine)) * Pitch) + line;
                shared[at] = v.X;
                shared[at + Pitch] = v.Y;
                shared[at + (2 * Pitch)] = v.Z;
                shared[at + (3 * Pitch)] = v.W;
            }
        }
    }

    private static void StoreRow(ArrayView<float> y, int r, int o, int rows, int outs, float v0, float v1, float v2, float v3)
    {
        if (r >= rows)
        {
            return;
        }
        long rowBase = (long)r * outs;
        if (o < outs)
        {
            y[rowBase + o] = v0;
        }
        if (o + 1 < outs)
        {
            y[rowBase + o + 1] = v1;
        }
        if (o + 2 < outs)
        {
            y[rowBase + o + 2] = v2;
        }
        if (o + 3 < outs)
        {
            y[rowBase + o + 3] = v3;
        }
    }
}
