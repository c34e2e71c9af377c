using ILGPU;
using ILGPU.Runtime;
using Copal.Tensors.Backends.Ilgpu.Kernels;

namespace Copal.Tensors.Backends.Ilgpu;

/// <summary>
/// Every kernel compiled for one accelerator, once, when the backend is created. Compiling eagerly makes a device
/// that cannot build them fail at creation with the kernel's name, rather than mid-run; it also matters because
/// after one kernel fails to compile, ILGPU's context is unusable for later ones.
/// </summary>
internal sealed class KernelSet
{
    /// <param name="a">The accelerator to compile for.</param>
    /// <param name="plan">Its launch plan: the GEMM it sizes its grid for (<see cref="LaunchPlan.GemmGridStride"/>), and
    /// the group bounds the 2:4 GEMVs are compiled for (<see cref="LaunchPlan.TwoOfFourGemv"/>).</param>
    public KernelSet(Accelerator a, LaunchPlan plan)
    {
        bool gemmGridStride = plan.GemmGridStride;
        KernelSpecialization twoOfFour = plan.TwoOfFourGemv;
        GemvF32 = Load(a, "Gemv<F32>", () => a.LoadStreamKernel<ArrayView<float>, F32Weights, ArrayView<float>, int, int>(MatMulKernels.Gemv));
        GemvBf16 = Load(a, "Gemv<BF16>", () => a.LoadStreamKernel<ArrayView<float>, Bf16Weights, ArrayView<float>, int, int>(MatMulKernels.Gemv));
        GemvF16 = Load(a, "Gemv<F16>", () => a.LoadStreamKernel<ArrayView<float>, F16Weights, ArrayView<float>, int, int>(MatMulKernels.Gemv));
        GemvTripleF32 = Load(a, "GemvTriple<F32>", () => a.LoadStreamKernel<ArrayView<float>, DenseRows<F32Weights>, DenseRows<F32Weights>, DenseRows<F32Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(MatMulKernels.GemvTriple));
        GemvSiluGateF32 = Load(a, "GemvSiluGate<F32>", () => a.LoadStreamKernel<ArrayView<float>, DenseRows<F32Weights>, DenseRows<F32Weights>, ArrayView<float>, int>(MatMulKernels.GemvSiluGate));
        GemvTripleBf16 = Load(a, "GemvTriple<BF16>", () => a.LoadStreamKernel<ArrayView<float>, DenseRows<Bf16Weights>, DenseRows<Bf16Weights>, DenseRows<Bf16Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(MatMulKernels.GemvTriple));
        GemvSiluGateBf16 = Load(a, "GemvSiluGate<BF16>", () => a.LoadStreamKernel<ArrayView<float>, DenseRows<Bf16Weights>, DenseRows<Bf16Weights>, ArrayView<float>, int>(MatMulKernels.GemvSiluGate));
        GemvTripleF16 = Load(a, "GemvTriple<F16>", () => a.LoadStreamKernel<ArrayView<float>, DenseRows<F16Weights>, DenseRows<F16Weights>, DenseRows<F16Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(MatMulKernels.GemvTriple));
        GemvSiluGateF16 = Load(a, "GemvSiluGate<F16>", () => a.LoadStreamKernel<ArrayView<float>, DenseRows<F16Weights>, DenseRows<F16Weights>, ArrayView<float>, int>(MatMulKernels.GemvSiluGate));
        GemvTripleTwoOfFourF32 = Load(a, "GemvTriple<2:4 F32>", () => a.LoadStreamKernel<ArrayView<float>, TwoOfFourRows<F32Weights>, TwoOfFourRows<F32Weights>, TwoOfFourRows<F32Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(MatMulKernels.GemvTriple, twoOfFour));
        GemvSiluGateTwoOfFourF32 = Load(a, "GemvSiluGate<2:4 F32>", () => a.LoadStreamKernel<ArrayView<float>, TwoOfFourRows<F32Weights>, TwoOfFourRows<F32Weights>, ArrayView<float>, int>(MatMulKernels.GemvSiluGate, twoOfFour));
        GemvTripleTwoOfFourBf16 = Load(a, "GemvTriple<2:4 BF16>", () => a.LoadStreamKernel<ArrayView<float>, TwoOfFourRows<Bf16Weights>, TwoOfFourRows<Bf16Weights>, TwoOfFourRows<Bf16Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(MatMulKernels.GemvTriple, twoOfFour));
        GemvTripleTwoOfFourF16 = Load(a, "GemvTriple<2:4 F16>", () => a.LoadStreamKernel<ArrayView<float>, TwoOfFourRows<F16Weights>, TwoOfFourRows<F16Weights>, TwoOfFourRows<F16Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(MatMulKernels.GemvTriple, twoOfFour));
        GemvSiluGateTwoOfFourBf16 = Load(a, "GemvSiluGate<2:4 BF16>", () => a.LoadStreamKernel<ArrayView<float>, TwoOfFourRows<Bf16Weights>, TwoOfFourRows<Bf16Weights>, ArrayView<float>, int>(MatMulKernels.GemvSiluGate, twoOfFour));
        GemvSiluGateTwoOfFourF16 = Load(a, "GemvSiluGate<2:4 F16>", () => a.LoadStreamKernel<ArrayView<float>, TwoOfFourRows<F16Weights>, TwoOfFourRows<F16Weights>, ArrayView<float>, int>(MatMulKernels.GemvSiluGate, twoOfFour));
        GemvTripleNMF32 = Load(a, "GemvTriple<N:M F32>", () => a.LoadStreamKernel<ArrayView<float>, NMRows<F32Weights>, NMRows<F32Weights>, NMRows<F32Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(MatMulKernels.GemvTriple));
        GemvSiluGateNMF32 = Load(a, "GemvSiluGate<N:M F32>", () => a.LoadStreamKernel<ArrayView<float>, NMRows<F32Weights>, NMRows<F32Weights>, ArrayView<float>, int>(MatMulKernels.GemvSiluGate));
        GemvTripleNMBf16 = Load(a, "GemvTriple<N:M BF16>", () => a.LoadStreamKernel<ArrayView<float>, NMRows<Bf16Weights>, NMRows<Bf16Weights>, NMRows<Bf16Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(MatMulKernels.GemvTriple));
        GemvTripleNMF16 = Load(a, "GemvTriple<N:M F16>", () => a.LoadStreamKernel<ArrayView<float>, NMRows<F16Weights>, NMRows<F16Weights>, NMRows<F16Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(MatMulKernels.GemvTriple));
        GemvSiluGateNMBf16 = Load(a, "GemvSiluGate<N:M BF16>", () => a.LoadStreamKernel<ArrayView<float>, NMRows<Bf16Weights>, NMRows<Bf16Weights>, ArrayView<float>, int>(MatMulKernels.GemvSiluGate));
        GemvSiluGateNMF16 = Load(a, "GemvSiluGate<N:M F16>", () => a.LoadStreamKernel<ArrayView<float>, NMRows<F16Weights>, NMRows<F16Weights>, ArrayView<float>, int>(MatMulKernels.GemvSiluGate));
        GemvTripleBitmaskF32 = Load(a, "GemvTriple<bitmask F32>", () => a.LoadStreamKernel<ArrayView<float>, BitmaskRows<F32Weights>, BitmaskRows<F32Weights>, BitmaskRows<F32Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(MatMulKernels.GemvTriple));
        GemvSiluGateBitmaskF32 = Load(a, "GemvSiluGate<bitmask F32>", () => a.LoadStreamKernel<ArrayView<float>, BitmaskRows<F32Weights>, BitmaskRows<F32Weights>, ArrayView<float>, int>(MatMulKernels.GemvSiluGate));
        GemvTripleBitmaskBf16 = Load(a, "GemvTriple<bitmask BF16>", () => a.LoadStreamKernel<ArrayView<float>, BitmaskRows<Bf16Weights>, BitmaskRows<Bf16Weights>, BitmaskRows<Bf16Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(MatMulKernels.GemvTriple));
        GemvTripleBitmaskF16 = Load(a, "GemvTriple<bitmask F16>", () => a.LoadStreamKernel<ArrayView<float>, BitmaskRows<F16Weights>, BitmaskRows<F16Weights>, BitmaskRows<F16Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(MatMulKernels.GemvTriple));
        GemvSiluGateBitmaskBf16 = Load(a, "GemvSiluGate<bitmask BF16>", () => a.LoadStreamKernel<ArrayView<float>, BitmaskRows<Bf16Weights>, BitmaskRows<Bf16Weights>, ArrayView<float>, int>(MatMulKernels.GemvSiluGate));
        GemvSiluGateBitmaskF16 = Load(a, "GemvSiluGate<bitmask F16>", () => a.LoadStreamKernel<ArrayView<float>, BitmaskRows<F16Weights>, BitmaskRows<F16Weights>, ArrayView<float>, int>(MatMulKernels.GemvSiluGate));
        GemmF32 = LoadGemm<F32Weights>(a, "Gemm<F32>", gemmGridStride);
        GemmBf16 = LoadGemm<Bf16Weights>(a, "Gemm<BF16>", gemmGridStride);
        GemmF16 = LoadGemm<F16Weights>(a, "Gemm<F16>", gemmGridStride);
        EmbeddingF32 = Load(a, "Embedding<F32>", () => a.LoadAutoGroupedStreamKernel<Index1D, F32Weights, ArrayView<int>, ArrayView<float>, int>(ElementwiseKernels.Embedding));
        EmbeddingBf16 = Load(a, "Embedding<BF16>", () => a.LoadAutoGroupedStreamKernel<Index1D, Bf16Weights, ArrayView<int>, ArrayView<float>, int>(ElementwiseKernels.Embedding));
        EmbeddingF16 = Load(a, "Embedding<F16>", () => a.LoadAutoGroupedStreamKernel<Index1D, F16Weights, ArrayView<int>, ArrayView<float>, int>(ElementwiseKernels.Embedding));
        AddBias = Load(a, "AddBias", () => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(ElementwiseKernels.AddBias));
        SiluMul = Load(a, "SiluMul", () => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.SiluMul));
        GeluTanhMul = Load(a, "GeluTanhMul", () => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.GeluTanhMul));
        Add = Load(a, "Add", () => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.Add));
        Scale = Load(a, "Scale", () => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(ElementwiseKernels.Scale));
        Rope = Load(a, "Rope", () => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(ElementwiseKernels.Rope));
        RmsNorm = Load(a, "RmsNorm", () => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float>(NormKernels.RmsNorm));
        AddRmsNorm = Load(a, "AddRmsNorm", () => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float>(NormKernels.AddRmsNorm));
        RopeAndStore = Load(a, "RopeAndStore", () => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int, int>(ElementwiseKernels.RopeAndStore));
        Softmax = Load(a, "Softmax", () => a.LoadStreamKernel<ArrayView<float>, int, int>(NormKernels.Softmax));
        Attention = Load(a, "Attention", () => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, float, int>(AttentionKernel.Attention));
        AttentionQuads = Load(a, "AttentionQuads", () => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, float, int>(AttentionQuadsKernels.Attention));
        AttentionSplit = Load(a, "AttentionSplit", () => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, float, int, int>(AttentionQuadsKernels.AttentionSplit));
        AttentionCombine = Load(a, "AttentionCombine", () => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(AttentionQuadsKernels.AttentionCombine));
        Gram = Load(a, "Gram", () => a.LoadAutoGroupedStreamKernel<Index2D, ArrayView<float>, ArrayView<float>, int, int>(StatisticsKernels.Gram));
        ColumnSquares = Load(a, "ColumnSquares", () => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(StatisticsKernels.ColumnSquares));
        SparseNMF32 = Load(a, "SparseNM<F32>", () => a.LoadStreamKernel<ArrayView<float>, F32Weights, ArrayView<byte>, ArrayView<float>, int, int, int, int, int, int, int>(SparseKernels.NM));
        SparseNMBf16 = Load(a, "SparseNM<BF16>", () => a.LoadStreamKernel<ArrayView<float>, Bf16Weights, ArrayView<byte>, ArrayView<float>, int, int, int, int, int, int, int>(SparseKernels.NM));
        SparseNMF16 = Load(a, "SparseNM<F16>", () => a.LoadStreamKernel<ArrayView<float>, F16Weights, ArrayView<byte>, ArrayView<float>, int, int, int, int, int, int, int>(SparseKernels.NM));
        GemmTwoOfFourF32 = LoadGemm<TwoOfFourView<F32Weights>>(a, "Gemm<2:4 F32>", gemmGridStride);
        GemmTwoOfFourBf16 = LoadGemm<TwoOfFourView<Bf16Weights>>(a, "Gemm<2:4 BF16>", gemmGridStride);
        GemmTwoOfFourF16 = LoadGemm<TwoOfFourView<F16Weights>>(a, "Gemm<2:4 F16>", gemmGridStride);
        GemmNMF32 = LoadGemm<NMView<F32Weights>>(a, "Gemm<N:M F32>", gemmGridStride);
        GemmNMBf16 = LoadGemm<NMView<Bf16Weights>>(a, "Gemm<N:M BF16>", gemmGridStride);
        GemmNMF16 = LoadGemm<NMView<F16Weights>>(a, "Gemm<N:M F16>", gemmGridStride);
        GemmBitmaskF32 = LoadGemm<BitmaskView<F32Weights>>(a, "Gemm<bitmask F32>", gemmGridStride);
        GemmBitmaskBf16 = LoadGemm<BitmaskView<Bf16Weights>>(a, "Gemm<bitmask BF16>", gemmGridStride);
        GemmBitmaskF16 = LoadGemm<BitmaskView<F16Weights>>(a, "Gemm<bitmask F16>", gemmGridStride);
        TwoOfFourF32 = Load(a, "TwoOfFour<F32>", () => a.LoadStreamKernel<ArrayView<float>, F32Weights, ArrayView<byte>, ArrayView<float>, int, int, int>(SparseKernels.TwoOfFour, twoOfFour));
        TwoOfFourBf16 = Load(a, "TwoOfFour<BF16>", () => a.LoadStreamKernel<ArrayView<float>, Bf16Weights, ArrayView<byte>, ArrayView<float>, int, int, int>(SparseKernels.TwoOfFour, twoOfFour));
        TwoOfFourF16 = Load(a, "TwoOfFour<F16>", () => a.LoadStreamKernel<ArrayView<float>, F16Weights, ArrayView<byte>, ArrayView<float>, int, int, int>(SparseKernels.TwoOfFour, twoOfFour));
        BitmaskF32 = Load(a, "Bitmask<F32>", () => a.LoadStreamKernel<ArrayView<float>, F32Weights, ArrayView<uint>, ArrayView<uint>, ArrayView<float>, int, int, int>(SparseKernels.Bitmask));
        Hold = Load(a, "Hold", () => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, float, float>(HoldKernel.Hold));
        StreamRead = Load(a, "StreamRead", () => a.LoadStreamKernel<ArrayView<Words4>, ArrayView<uint>>(MemoryReadKernel.StreamRead));
        BitmaskBf16 = Load(a, "Bitmask<BF16>", () => a.LoadStreamKernel<ArrayView<float>, Bf16Weights, ArrayView<uint>, ArrayView<uint>, ArrayView<float>, int, int, int>(SparseKernels.Bitmask));
        BitmaskF16 = Load(a, "Bitmask<F16>", () => a.LoadStreamKernel<ArrayView<float>, F16Weights, ArrayView<uint>, ArrayView<uint>, ArrayView<float>, int, int, int>(SparseKernels.Bitmask));
    }

    public Action<KernelConfig, ArrayView<float>, F32Weights, ArrayView<float>, int, int> GemvF32 { get; }
    public Action<KernelConfig, ArrayView<float>, Bf16Weights, ArrayView<float>, int, int> GemvBf16 { get; }
    public Action<KernelConfig, ArrayView<float>, F16Weights, ArrayView<float>, int, int> GemvF16 { get; }
    public Action<KernelConfig, ArrayView<float>, DenseRows<F32Weights>, DenseRows<F32Weights>, DenseRows<F32Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> GemvTripleF32 { get; }
    public Action<KernelConfig, ArrayView<float>, DenseRows<F32Weights>, DenseRows<F32Weights>, ArrayView<float>, int> GemvSiluGateF32 { get; }
    public Action<KernelConfig, ArrayView<float>, DenseRows<Bf16Weights>, DenseRows<Bf16Weights>, DenseRows<Bf16Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> GemvTripleBf16 { get; }
    public Action<KernelConfig, ArrayView<float>, DenseRows<Bf16Weights>, DenseRows<Bf16Weights>, ArrayView<float>, int> GemvSiluGateBf16 { get; }
    public Action<KernelConfig, ArrayView<float>, DenseRows<F16Weights>, DenseRows<F16Weights>, DenseRows<F16Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> GemvTripleF16 { get; }
    public Action<KernelConfig, ArrayView<float>, DenseRows<F16Weights>, DenseRows<F16Weights>, ArrayView<float>, int> GemvSiluGateF16 { get; }
    public Action<KernelConfig, ArrayView<float>, TwoOfFourRows<F32Weights>, TwoOfFourRows<F32Weights>, TwoOfFourRows<F32Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> GemvTripleTwoOfFourF32 { get; }
    public Action<KernelConfig, ArrayView<float>, TwoOfFourRows<F32Weights>, TwoOfFourRows<F32Weights>, ArrayView<float>, int> GemvSiluGateTwoOfFourF32 { get; }
    public Action<KernelConfig, ArrayView<float>, TwoOfFourRows<Bf16Weights>, TwoOfFourRows<Bf16Weights>, TwoOfFourRows<Bf16Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> GemvTripleTwoOfFourBf16 { get; }
    public Action<KernelConfig, ArrayView<float>, TwoOfFourRows<F16Weights>, TwoOfFourRows<F16Weights>, TwoOfFourRows<F16Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> GemvTripleTwoOfFourF16 { get; }
    public Action<KernelConfig, ArrayView<float>, TwoOfFourRows<Bf16Weights>, TwoOfFourRows<Bf16Weights>, ArrayView<float>, int> GemvSiluGateTwoOfFourBf16 { get; }
    public Action<KernelConfig, ArrayView<float>, TwoOfFourRows<F16Weights>, TwoOfFourRows<F16Weights>, ArrayView<float>, int> GemvSiluGateTwoOfFourF16 { get; }
    public Action<KernelConfig, ArrayView<float>, NMRows<F32Weights>, NMRows<F32Weights>, NMRows<F32Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> GemvTripleNMF32 { get; }
    public Action<KernelConfig, ArrayView<float>, NMRows<F32Weights>, NMRows<F32Weights>, ArrayView<float>, int> GemvSiluGateNMF32 { get; }
    public Action<KernelConfig, ArrayView<float>, NMRows<Bf16Weights>, NMRows<Bf16Weights>, NMRows<Bf16Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> GemvTripleNMBf16 { get; }
    public Action<KernelConfig, ArrayView<float>, NMRows<F16Weights>, NMRows<F16Weights>, NMRows<F16Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> GemvTripleNMF16 { get; }
    public Action<KernelConfig, ArrayView<float>, NMRows<Bf16Weights>, NMRows<Bf16Weights>, ArrayView<float>, int> GemvSiluGateNMBf16 { get; }
    public Action<KernelConfig, ArrayView<float>, NMRows<F16Weights>, NMRows<F16Weights>, ArrayView<float>, int> GemvSiluGateNMF16 { get; }
    public Action<KernelConfig, ArrayView<float>, BitmaskRows<F32Weights>, BitmaskRows<F32Weights>, BitmaskRows<F32Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> GemvTripleBitmaskF32 { get; }
    public Action<KernelConfig, ArrayView<float>, BitmaskRows<F32Weights>, BitmaskRows<F32Weights>, ArrayView<float>, int> GemvSiluGateBitmaskF32 { get; }
    public Action<KernelConfig, ArrayView<float>, BitmaskRows<Bf16Weights>, BitmaskRows<Bf16Weights>, BitmaskRows<Bf16Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> GemvTripleBitmaskBf16 { get; }
    public Action<KernelConfig, ArrayView<float>, BitmaskRows<F16Weights>, BitmaskRows<F16Weights>, BitmaskRows<F16Weights>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> GemvTripleBitmaskF16 { get; }
    public Action<KernelConfig, ArrayView<float>, BitmaskRows<Bf16Weights>, BitmaskRows<Bf16Weights>, ArrayView<float>, int> GemvSiluGateBitmaskBf16 { get; }
    public Action<KernelConfig, ArrayView<float>, BitmaskRows<F16Weights>, BitmaskRows<F16Weights>, ArrayView<float>, int> GemvSiluGateBitmaskF16 { get; }
    public Action<KernelConfig, ArrayView<float>, F32Weights, ArrayView<float>, int, int, int> GemmF32 { get; }
    public Action<KernelConfig, ArrayView<float>, Bf16Weights, ArrayView<float>, int, int, int> GemmBf16 { get; }
    public Action<KernelConfig, ArrayView<float>, F16Weights, ArrayView<float>, int, int, int> GemmF16 { get; }
    public Action<Index1D, F32Weights, ArrayView<int>, ArrayView<float>, int> EmbeddingF32 { get; }
    public Action<Index1D, Bf16Weights, ArrayView<int>, ArrayView<float>, int> EmbeddingBf16 { get; }
    public Action<Index1D, F16Weights, ArrayView<int>, ArrayView<float>, int> EmbeddingF16 { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, int> AddBias { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> SiluMul { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> GeluTanhMul { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> Add { get; }
    public Action<Index1D, ArrayView<float>, float> Scale { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int> Rope { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float> RmsNorm { get; }
    public Action<KernelConfig, ArrayView<float>, int, int> Softmax { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float> AddRmsNorm { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int, int> RopeAndStore { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, float, int> Attention { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, float, int> AttentionQuads { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, float, int, int> AttentionSplit { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, int, int> AttentionCombine { get; }
    public Action<Index2D, ArrayView<float>, ArrayView<float>, int, int> Gram { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, int, int> ColumnSquares { get; }
    public Action<KernelConfig, ArrayView<float>, F32Weights, ArrayView<byte>, ArrayView<float>, int, int, int, int, int, int, int> SparseNMF32 { get; }
    public Action<KernelConfig, ArrayView<float>, Bf16Weights, ArrayView<byte>, ArrayView<float>, int, int, int, int, int, int, int> SparseNMBf16 { get; }
    public Action<KernelConfig, ArrayView<float>, F16Weights, ArrayView<byte>, ArrayView<float>, int, int, int, int, int, int, int> SparseNMF16 { get; }
    public Action<KernelConfig, ArrayView<float>, TwoOfFourView<F32Weights>, ArrayView<float>, int, int, int> GemmTwoOfFourF32 { get; }
    public Action<KernelConfig, ArrayView<float>, TwoOfFourView<Bf16Weights>, ArrayView<float>, int, int, int> GemmTwoOfFourBf16 { get; }
    public Action<KernelConfig, ArrayView<float>, TwoOfFourView<F16Weights>, ArrayView<float>, int, int, int> GemmTwoOfFourF16 { get; }
    public Action<KernelConfig, ArrayView<float>, NMView<F32Weights>, ArrayView<float>, int, int, int> GemmNMF32 { get; }
    public Action<KernelConfig, ArrayView<float>, NMView<Bf16Weights>, ArrayView<float>, int, int, int> GemmNMBf16 { get; }
    public Action<KernelConfig, ArrayView<float>, NMView<F16Weights>, ArrayView<float>, int, int, int> GemmNMF16 { get; }
    public Action<KernelConfig, ArrayView<float>, BitmaskView<F32Weights>, ArrayView<float>, int, int, int> GemmBitmaskF32 { get; }
    public Action<KernelConfig, ArrayView<float>, BitmaskView<Bf16Weights>, ArrayView<float>, int, int, int> GemmBitmaskBf16 { get; }
    public Action<KernelConfig, ArrayView<float>, BitmaskView<F16Weights>, ArrayView<float>, int, int, int> GemmBitmaskF16 { get; }
    public Action<KernelConfig, ArrayView<float>, F32Weights, ArrayView<byte>, ArrayView<float>, int, int, int> TwoOfFourF32 { get; }
    public Action<KernelConfig, ArrayView<float>, Bf16Weights, ArrayView<byte>, ArrayView<float>, int, int, int> TwoOfFourBf16 { get; }
    public Action<KernelConfig, ArrayView<float>, F16Weights, ArrayView<byte>, ArrayView<float>, int, int, int> TwoOfFourF16 { get; }
    public Action<KernelConfig, ArrayView<float>, F32Weights, ArrayView<uint>, ArrayView<uint>, ArrayView<float>, int, int, int> BitmaskF32 { get; }
    public Action<KernelConfig, ArrayView<float>, Bf16Weights, ArrayView<uint>, ArrayView<uint>, ArrayView<float>, int, int, int> BitmaskBf16 { get; }
    public Action<KernelConfig, ArrayView<float>, F16Weights, ArrayView<uint>, ArrayView<uint>, ArrayView<float>, int, int, int> BitmaskF16 { get; }
    public Action<Index1D, ArrayView<float>, int, float, float> Hold { get; }
    public Action<KernelConfig, ArrayView<Words4>, ArrayView<uint>> StreamRead { get; }

    /// <summary>A GEMM as the launch plan sizes it: a group per output block, or groups that loop over them.</summary>
    private static Action<KernelConfig, ArrayView<float>, TW, ArrayView<float>, int, int, int> LoadGemm<TW>(Accelerator a, string kernel, bool gridStride)
        where TW : struct, IWeightView =>
        Load(a, kernel, () => a.LoadStreamKernel<ArrayView<float>, TW, ArrayView<float>, int, int, int>(
            gridStride ? MatMulKernels.GemmGridStride : MatMulKernels.Gemm));

    private static T Load<T>(Accelerator accelerator, string kernel, Func<T> load)
    {
        try
        {
            return load();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new DeviceUnavailableException(
                $"kernel {kernel} does not compile for {accelerator.AcceleratorType} '{accelerator.Name}': {e.GetBaseException().Message}", e);
        }
    }
}
