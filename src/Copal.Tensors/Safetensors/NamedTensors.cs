namespace Copal.Tensors.Safetensors;

/// <summary>
/// Tensors in their order, looked up by exact name: what one safetensors file and a checkpoint of several both are.
/// A name that is missing is an error that names <see cref="Path"/> and the nearest names held.
/// </summary>
internal sealed class NamedTensors
{
    private TensorView[] _tensors;
    private readonly Dictionary<string, int> _index;

    public NamedTensors(string path, TensorView[] tensors)
    {
        Path = path;
        _tensors = tensors;
        _index = new Dictionary<string, int>(tensors.Length, StringComparer.Ordinal);
        Index();
    }

    /// <summary>The file, index or folder the tensors were read from, as errors name it.</summary>
    public string Path { get; }

    /// <summary>Every tensor, in order.</summary>
    public IReadOnlyList<TensorView> All => _tensors;

    public bool Contains(string name) => _index.ContainsKey(name);

    public bool TryGet(string name, out TensorView view)
    {
        if (_index.TryGetValue(name, out int i))
        {
            view = _tensors[i];
            return true;
        }
        view = default;
        return false;
    }

    /// <summary>The tensor named <paramref name="name"/>; throws <see cref="SafetensorsException"/> listing the nearest names if absent.</summary>
    public TensorView Get(string name) => TryGet(name, out TensorView view)
        ? view
        : throw new SafetensorsException(Path, $"no tensor '{name}': " + NameSuggestions.Describe(name, _index.Keys, _tensors.Length));

    /// <summary>Puts <paramref name="parts"/> in the place of the tensor named <paramref name="name"/>, in their order.</summary>
    public void Replace(string name, IEnumerable<TensorView> parts)
    {
        int at = _index[name];
        _tensors = [.. _tensors[..at], .. parts, .. _tensors[(at + 1)..]];
        _index.Clear();
        Index();
    }

    private void Index()
    {
        for (int i = 0; i < _tensors.Length; i++)
        {
            _index.Add(_tensors[i].Name, i);
        }
    }
}
