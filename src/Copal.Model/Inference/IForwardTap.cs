using Copal.Model.Weights;
using Copal.Tensors.Backends;

namespace Copal.Model.Inference;

/// <summary>
/// Named tap points in the forward pass. Calibration attaches here to read the inputs of every linear layer and
/// of every decoder layer; the buffers are only valid during the call and must not be written.
/// </summary>
public interface IForwardTap
{
    /// <summary>The residual stream entering decoder layer <paramref name="layer"/>. // [rows, hidden]</summary>
    void OnLayerInput(int layer, DeviceBuffer hidden, int rows) { }

    /// <summary>
    /// The input of one linear layer, just before its matmul. q/k/v see the same buffer, as do gate/up.
    /// // [rows, in]
    /// </summary>
    void OnLinearInput(int layer, LinearId linear, DeviceBuffer input, int rows) { }

    /// <summary>The residual stream leaving decoder layer <paramref name="layer"/>. // [rows, hidden]</summary>
    void OnLayerOutput(int layer, DeviceBuffer hidden, int rows) { }
}
