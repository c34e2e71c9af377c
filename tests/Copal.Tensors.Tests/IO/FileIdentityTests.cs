using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Tensors.Tests.IO;

/// <summary>A folder's identity on disk is the same however it is reached, and differs from every other folder's.</summary>
public sealed class FileIdentityTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-");

    [Fact]
    public void One_folder_reached_two_ways_has_one_identity_and_a_missing_path_none()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Null(FileIdentity.Of(_dir.Path)); // elsewhere paths are compared as spelled
            return;
        }
        string a = Directory.CreateDirectory(_dir.File("a")).FullName;
        string b = Directory.CreateDirectory(_dir.File("b")).FullName;
        string link = _dir.File("link");
        Directory.CreateSymbolicLink(link, a);

        Assert.NotNull(FileIdentity.Of(a));
        Assert.Equal(FileIdentity.Of(a), FileIdentity.Of(link));
        Assert.Equal(FileIdentity.Of(a), FileIdentity.Of(Path.Combine(b, "..", "a")));
        Assert.NotEqual(FileIdentity.Of(a), FileIdentity.Of(b));
        Assert.Null(FileIdentity.Of(_dir.File("missing")));
    }

    public void Dispose() => _dir.Dispose();
}
