using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// stories260K's weights as a Mistral with a sliding window of 4: a sequence longer than its caches hold (two windows
/// and a prefill chunk) slides them, dropping the positions no window reaches.
/// </summary>
internal static class WindowedModel
{
    public const int Window = 4;

    /// <summary>Copies stories260K into <paramref name="folder"/> with the windowed config; returns the folder.</summary>
    public static string CopyTo(string folder)
    {
        string dir = TestData.CopyOfStories260K(folder);
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
        config["architectures"] = new System.Text.Json.Nodes.JsonArray("MistralForCausalLM");
        config["model_type"] = "mistral"; // transformers builds the model from model_type: the two must agree
        config["sliding_window"] = Window;
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        return dir;
    }
}
