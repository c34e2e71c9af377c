using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Tensors.Tests.IO;

/// <summary>
/// A file's length through the links that reach it: a Hugging Face cache's snapshot links every file to its blob, and
/// FileInfo.Length of a link is the link's own.
/// </summary>
public sealed class FileLengthTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-");

    public void Dispose() => _dir.Dispose();

    [LinuxFact]
    public void A_link_or_a_link_to_a_link_has_its_targets_length_and_a_dangling_one_or_none_zero()
    {
        string blob = _dir.File("blob");
        File.WriteAllBytes(blob, new byte[5000]);
        File.CreateSymbolicLink(_dir.File("link"), blob);
        File.CreateSymbolicLink(_dir.File("link2"), _dir.File("link"));
        File.CreateSymbolicLink(_dir.File("dangling"), _dir.File("nothing"));

        Assert.Equal(5000, FileLength.Of(blob));
        Assert.Equal(5000, FileLength.Of(_dir.File("link")));
        Assert.Equal(5000, FileLength.Of(_dir.File("link2")));
        Assert.Equal(0, FileLength.Of(_dir.File("dangling")));
        Assert.Equal(0, FileLength.Of(_dir.File("nothing")));
    }
}
