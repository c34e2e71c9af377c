using Copal.Testing;

namespace Copal.Tensors.Tests.Repository;

/// <summary>
/// Git for Windows checks text files out with CRLF line ends by default (core.autocrlf=true) unless the repository
/// says otherwise. A clone made so had the testbed model's tokenizer.json and config files fail their SHA256SUMS, and
/// its test data, golden files and documented results were not the bytes they were made from. The repository's
/// .gitattributes says LF for every text file and binary for the weights; a clone with core.autocrlf=true then holds
/// the same bytes as one on Linux (checked by hand when it was added: no text file with CR, SHA256SUMS OK). This test
/// keeps those lines from being lost.
/// </summary>
public sealed class CheckoutLineEndsTests
{
    [Fact]
    public void Text_files_are_checked_out_with_lf_on_every_system_and_weights_as_binary()
    {
        string path = TestData.RepoPath(".gitattributes");
        Assert.True(File.Exists(path), $"{path} is missing");
        string[] rules = [.. File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))];
        Assert.Contains("* text=auto eol=lf", rules);
        Assert.Contains("*.safetensors binary", rules);
        Assert.Contains("*.model binary", rules);
    }
}
