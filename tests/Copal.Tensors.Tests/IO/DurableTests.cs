using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Tensors.Tests.IO;

public sealed class DurableTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-");

    public void Dispose() => _dir.Dispose();

    [LinuxFact]
    public void A_failed_flush_is_worded_as_dotnet_words_io_errors_so_the_reason_reads_alone()
    {
        string missing = _dir.File("missing.bin");
        var e = Assert.Throws<IOException>(() => Durable.FlushFile(missing));
        Assert.Equal($"No such file or directory : '{missing}'", e.Message);
        Assert.Equal("No such file or directory", AtomicDirectory.Reason(e));
    }

    [LinuxFact]
    public void A_tree_is_flushed_each_folder_after_what_it_holds_and_links_are_not_followed()
    {
        string root = Directory.CreateDirectory(_dir.File("root")).FullName;
        string deep = Directory.CreateDirectory(Path.Combine(root, "a", "b")).FullName;
        File.WriteAllText(Path.Combine(deep, "x.bin"), "x");
        string outside = Directory.CreateDirectory(_dir.File("outside")).FullName;
        File.WriteAllText(Path.Combine(outside, "y.bin"), "y");
        File.CreateSymbolicLink(Path.Combine(root, "link"), outside);
        File.CreateSymbolicLink(Path.Combine(root, "file-link"), Path.Combine(outside, "y.bin"));
        using var flushes = new FlushRecorder(_dir.Path);
        Durable.FlushTree(root);
        Assert.Equal([Path.Combine(deep, "x.bin"), deep, Path.Combine(root, "a"), root], flushes.Paths);
    }
}
