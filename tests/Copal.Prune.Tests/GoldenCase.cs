using System.Text.Json;
using Copal.Testing;

namespace Copal.Prune.Tests;

/// <summary>
/// One case written by tools/reference/pruning_reference.py: the inputs (W, X per sequence) and, per method,
/// the reference's outputs keyed by pattern text ("0.5", "0.7", "2:4").
/// </summary>
internal sealed class GoldenCase
{
    private GoldenCase(string name, JsonElement inputs)
    {
        Name = name;
        Rows = inputs.GetProperty("rows").GetInt32();
        Cols = inputs.GetProperty("cols").GetInt32();
        PercentDamp = inputs.GetProperty("percdamp").GetDouble();
        Weight = Floats(inputs.GetProperty("weight_f32"));
        Scaler = Doubles(inputs.GetProperty("scaler_f64"));
        foreach (JsonElement s in inputs.GetProperty("sequences").EnumerateArray())
        {
            Sequences.Add((s.GetProperty("tokens").GetInt32(), Floats(s.GetProperty("x_f32"))));
        }
    }

    public string Name { get; }
    public int Rows { get; }
    public int Cols { get; }
    public double PercentDamp { get; }
    public float[] Weight { get; }
    public double[] Scaler { get; }
    public List<(int Tokens, float[] X)> Sequences { get; } = [];

    public static GoldenCase Load(string name) => new(name, Read($"{name}.inputs.json"));

    public static JsonElement Read(string file)
    {
        string path = TestData.RepoPath("tests", "Copal.Prune.Tests", "Golden", file);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.Clone();
    }

    /// <summary>The method's golden outputs for one pattern.</summary>
    public JsonElement Result(string method, string pattern) => Read($"{Name}.{method}.json").GetProperty(pattern);

    public InputStatistics Statistics(bool hessian)
    {
        var stats = new InputStatistics(Cols, hessian);
        foreach ((int tokens, float[] x) in Sequences)
        {
            stats.AddSequence(x, tokens);
        }
        return stats;
    }

    public static bool[] Mask(JsonElement result, string property = "mask")
        => result.GetProperty(property).GetString()!.Select(c => c == '1').ToArray();

    public static float[] Floats(JsonElement e)
    {
        byte[] bytes = Convert.FromBase64String(e.GetString()!);
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }

    public static double[] Doubles(JsonElement e)
    {
        byte[] bytes = Convert.FromBase64String(e.GetString()!);
        var values = new double[bytes.Length / 8];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }

    public static SparsityPattern Pattern(string text) => SparsityPattern.Parse(text);
}
