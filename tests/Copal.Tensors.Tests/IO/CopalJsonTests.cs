using System.Text.Json;
using Copal.Tensors.IO;

namespace Copal.Tensors.Tests.IO;

/// <summary>NaN and ±Inf are written as null wherever a double or float appears, and read back; named literals of old files still read.</summary>
public sealed class CopalJsonTests
{
    private sealed record Sample(double A, float B, double? C, double[] D, Dictionary<string, float> E);

    [Fact]
    public void Non_finite_numbers_are_written_as_null_everywhere()
    {
        var sample = new Sample(double.NaN, float.PositiveInfinity, double.NegativeInfinity, [1.5, double.NaN], new() { ["x"] = float.NaN, ["y"] = 2 });
        string json = JsonSerializer.Serialize(sample, CopalJson.Create(indented: false));
        Assert.Equal("""{"a":null,"b":null,"c":null,"d":[1.5,null],"e":{"x":null,"y":2}}""", json);
        Sample back = JsonSerializer.Deserialize<Sample>(json, CopalJson.Create())!;
        Assert.True(double.IsNaN(back.A) && float.IsNaN(back.B) && back.C is null && double.IsNaN(back.D[1]) && float.IsNaN(back.E["x"]));
    }

    [Fact]
    public void Named_literals_of_files_written_before_still_read()
    {
        Sample s = JsonSerializer.Deserialize<Sample>("""{"a":"NaN","b":"-Infinity","c":"Infinity","d":[],"e":{}}""", CopalJson.Create())!;
        Assert.True(double.IsNaN(s.A));
        Assert.Equal(float.NegativeInfinity, s.B);
        Assert.Equal(double.PositiveInfinity, s.C);
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<Sample>("""{"a":"seven"}""", CopalJson.Create()));
    }
}
