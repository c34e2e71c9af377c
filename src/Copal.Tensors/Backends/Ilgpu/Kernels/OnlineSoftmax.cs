using ILGPU;
using ILGPU.Algorithms;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>
/// The running maximum and sum of an online softmax over blocks of keys, as the attention kernels keep it: memory
/// does not grow with the sequence, and what was accumulated before a block is rescaled by exp(old max − new max).
/// </summary>
internal struct OnlineSoftmax
{
    public float Max;
    public float Sum;

    /// <summary>The factor by which the last block rescaled what was accumulated before it.</summary>
    public float Rescale;

    public static OnlineSoftmax Start() => new() { Max = float.MinValue, Sum = 0f, Rescale = 0f };

    /// <summary>
    /// Folds in a block whose scores are in <paramref name="probs"/>[0, count), written by this group's threads
    /// (thread t at t, t + block, …) with <paramref name="blockMax"/> the thread's own maximum. Replaces the scores
    /// by exp(score − new max) and ends with a barrier, so every thread then reads every probability.
    /// </summary>
    public static OnlineSoftmax AddBlock(OnlineSoftmax state, ArrayView<float> probs, int count, float blockMax, int t, int block)
    {
        float newMax = XMath.Max(state.Max, GroupReductions.Max(blockMax, block));
        float partial = 0f;
        for (int jj = t; jj < count; jj += block)
        {
            float p = XMath.Exp(probs[jj] - newMax);
            probs[jj] = p;
            partial += p;
        }
        float blockSum = GroupReductions.Sum(partial, block);
        Group.Barrier();
        float rescale = XMath.Exp(state.Max - newMax);
        return new OnlineSoftmax { Max = newMax, Sum = (state.Sum * rescale) + blockSum, Rescale = rescale };
    }
}
