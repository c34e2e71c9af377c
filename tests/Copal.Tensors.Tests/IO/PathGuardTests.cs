using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Tensors.Tests.IO;

/// <summary>Real paths through links anywhere in a path, and the output/input checks built on them.</summary>
public sealed class PathGuardTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-");

    private string Dir(string name) => Directory.CreateDirectory(_dir.File(name)).FullName;

    private string Link(string name, string target) => Directory.CreateSymbolicLink(_dir.File(name), target).FullName;

    [Fact]
    public void Resolve_follows_links_in_every_component_and_keeps_a_missing_tail()
    {
        string real = RealPath.Resolve(_dir.Path);
        string model = Dir("model");
        Directory.CreateDirectory(Path.Combine(model, "sub"));
        Link("abs", model);
        Directory.CreateSymbolicLink(Path.Combine(model, "rel"), "sub");
        Link("parent", _dir.Path);
        Assert.Equal(Path.Join(real, "model"), RealPath.Resolve(_dir.File("abs")));
        Assert.Equal(Path.Join(real, "model", "sub", "new", "deeper"), RealPath.Resolve(Path.Combine(_dir.File("abs"), "rel", "new", "deeper")));
        Assert.Equal(Path.Join(real, "model"), RealPath.Resolve(Path.Combine(_dir.File("parent"), "parent", "model") + Path.DirectorySeparatorChar));
        // ".." in the spelled path is lexical, as .NET applies it to every file operation...
        Assert.Equal(Path.Join(real, "model"), RealPath.Resolve(Path.Combine(_dir.File("abs"), "..", "model")));
    }

    [Fact]
    public void A_path_is_respelled_only_where_dot_dot_follows_a_link()
    {
        string real = RealPath.Resolve(_dir.Path);
        string model = Dir("model");
        Directory.CreateDirectory(Path.Combine(model, "sub"));
        string link = Link("link", Path.Combine(model, "sub"));
        // The shell reads link/../out as model/out; .NET alone would read it as <dir>/out.
        Assert.Equal(Path.Join(real, "model", "out"), RealPath.AsTheKernelReadsIt(Path.Combine(link, "..", "out")));
        Assert.Equal(Path.Join(real, "model", "x", "y"), RealPath.AsTheKernelReadsIt(Path.Combine(link, "..", "sub", "..", "x", "y")));
        Assert.Equal(real, RealPath.AsTheKernelReadsIt(Path.Combine(link, "..", "..")));
        // Where both read it the same, the path comes back as typed: no link before "..", a missing folder before it, no "..".
        foreach (string same in new[] { Path.Combine(model, "sub", "..", "out"), Path.Combine(_dir.Path, "missing", "..", "out"), Path.Combine(link, "out"), "relative/../x" })
        {
            Assert.Same(same, RealPath.AsTheKernelReadsIt(same));
        }
    }

    [Fact]
    public void Dot_dot_in_a_link_target_is_relative_to_where_the_link_lies()
    {
        string real = RealPath.Resolve(_dir.Path);
        Dir("a");
        string b = Dir(Path.Combine("a", "b"));
        Dir("c");
        // a/b/up -> ../../c, i.e. <dir>/c
        Directory.CreateSymbolicLink(Path.Combine(b, "up"), Path.Combine("..", "..", "c"));
        Assert.Equal(Path.Join(real, "c", "x"), RealPath.Resolve(Path.Combine(b, "up", "x")));
    }

    [Fact]
    public void A_link_loop_is_an_error_not_a_hang()
    {
        Link("loop1", _dir.File("loop2"));
        Link("loop2", _dir.File("loop1"));
        Assert.Contains("too many levels of symbolic links", Assert.Throws<IOException>(() => RealPath.Resolve(Path.Combine(_dir.File("loop1"), "x"))).Message);
    }

    [Theory]
    [InlineData("/a/b", "/a/b", true)]
    [InlineData("/a/b/c", "/a/b", true)]
    [InlineData("/a/bc", "/a/b", false)]
    [InlineData("/a", "/a/b", false)]
    [InlineData("/a", "/", true)]
    public void Inside_means_a_whole_component_prefix(string inner, string outer, bool expected)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        Assert.Equal(expected, RealPath.IsSameOrInside(inner, outer));
    }

    [Fact]
    public void Outputs_apart_from_inputs_through_links()
    {
        string model = Dir("model");
        string link = Link("link", model);
        Assert.Contains("is the input folder", Assert.Throws<IOException>(() => PathGuard.RequireApart(model, "--out", link, "the input folder")).Message);
        Assert.Contains("is inside the input folder", Assert.Throws<IOException>(() => PathGuard.RequireApart(Path.Combine(link, "out"), "--out", model, "the input folder")).Message);
        Assert.Contains("contains the input folder", Assert.Throws<IOException>(() => PathGuard.RequireApart(_dir.Path, "--out", link, "the input folder")).Message);
        // A folder that is only written into may hold the input, but not be it or lie inside it.
        PathGuard.RequireOutside(_dir.Path, "--temp", link, "the input folder");
        Assert.Throws<IOException>(() => PathGuard.RequireOutside(Path.Combine(link, "t"), "--temp", model, "the input folder"));
        PathGuard.RequireApart(_dir.File("model2"), "--out", link, "the input folder");
    }

    /// <summary>An output inside the input, no link involved, is told in the plain words, without a bind mount's.</summary>
    [Fact]
    public void An_output_inside_the_input_is_named_plainly()
    {
        string model = Dir("model");
        string output = Path.Combine(model, "out");
        Assert.Equal($"--out '{output}' is inside the input folder '{model}'; inputs are never written into: choose a place outside it",
            Assert.Throws<IOException>(() => PathGuard.RequireApart(output, "--out", model, "the input folder")).Message);
    }

    /// <summary>
    /// A file the input folder links to lies in the output: replacing the output, or writing that file into it,
    /// would change the input through its link.
    /// </summary>
    [Fact]
    public void An_output_that_holds_a_file_the_input_links_to_is_refused()
    {
        string model = Dir("model");
        string output = Dir("out");
        string weights = Path.Combine(output, "weights.bin");
        File.WriteAllText(weights, "input");
        string shown = Path.Combine(model, "weights.bin");
        File.CreateSymbolicLink(shown, weights);
        Assert.Equal($"--out '{output}' holds '{weights}', which the input folder '{model}' links to as '{shown}'; writing it would replace the input: choose another --out",
            Assert.Throws<IOException>(() => PathGuard.RequireApart(output, "--out", model, "the input folder")).Message);
        Assert.Equal($"--temp '{output}' holds '{weights}', which the input folder '{model}' links to as '{shown}'; writing it would replace the input: choose another --temp",
            Assert.Throws<IOException>(() => PathGuard.RequireOutsideWriting(output, "--temp", ["weights.bin"], model, "the input folder")).Message);
        PathGuard.RequireOutsideWriting(output, "--temp", ["other.bin"], model, "the input folder");
        Assert.Equal("input", File.ReadAllText(weights));
    }

    /// <summary>The root folder is spelled as itself: a message about it must not say links were followed to get there.</summary>
    [Fact]
    public void The_root_folder_as_an_output_is_named_as_given_not_through_links()
    {
        string model = RealPath.Resolve(Dir("model")); // a temp folder may lie behind a link (macOS: /var)
        string root = Path.GetPathRoot(model)!;
        string message = Assert.Throws<IOException>(() => PathGuard.RequireApart(root, "--out", model, "the input folder")).Message;
        Assert.Equal($"--out '{root}' contains the input folder '{model}'; writing it would replace the input: choose another --out", message);
    }

    [Fact]
    public void Replacing_an_output_given_as_a_link_writes_where_the_link_points_and_keeps_the_link()
    {
        string model = Dir("model");
        File.WriteAllText(Path.Combine(model, "in.txt"), "input");
        string target = Dir("target");
        File.WriteAllText(Path.Combine(target, "config.json"), "old"); // a model folder: --force replaces only such
        string link = Link("out", target);
        using (AtomicDirectory dir = AtomicDirectory.Create(link, overwrite: true, model))
        {
            Assert.Equal(RealPath.Resolve(target), dir.FinalPath);
            File.WriteAllText(dir.File("new.txt"), "new");
            dir.Commit();
        }
        Assert.Equal(target, new DirectoryInfo(link).LinkTarget);
        Assert.Equal(["new.txt"], Directory.GetFiles(target).Select(Path.GetFileName));
        Assert.Equal("input", File.ReadAllText(Path.Combine(model, "in.txt")));
        Assert.Equal(["model", "out", "target"], Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    /// <summary>An output its file system cannot hold is refused before the first byte, naming both sizes, and leaves nothing.</summary>
    [Fact]
    public void An_output_larger_than_the_free_space_is_refused_before_writing()
    {
        string output = _dir.File("out");
        using (AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: false))
        {
            dir.RequireSpace(1, "one byte");
            var e = Assert.Throws<IOException>(() => dir.RequireSpace(long.MaxValue, "the model"));
            Assert.StartsWith($"--out '{dir.FinalPath}': the model takes 8.00 EiB, and its file system has ", e.Message, StringComparison.Ordinal);
            Assert.EndsWith(" free", e.Message, StringComparison.Ordinal);
        }
        // An output no option names (continual's intermediate models) is named as the caller says.
        using (AtomicDirectory dir = AtomicDirectory.CreateNamed("the intermediate model (in --temp)", output, overwrite: false))
        {
            var e = Assert.Throws<IOException>(() => dir.RequireSpace(long.MaxValue, "the model"));
            Assert.StartsWith($"the intermediate model (in --temp) '{dir.FinalPath}': the model takes 8.00 EiB", e.Message, StringComparison.Ordinal);
        }
        Assert.Empty(Directory.GetFileSystemEntries(_dir.Path));
    }

    /// <summary>The folders a run made above its output go again when it ends without one; those that were there stay.</summary>
    [Fact]
    public void An_uncommitted_output_removes_the_folders_it_made_above_it()
    {
        string kept = Dir("kept");
        using (AtomicDirectory dir = AtomicDirectory.Create(Path.Combine(kept, "a", "b", "out"), overwrite: false))
        {
            Assert.True(Directory.Exists(Path.Combine(kept, "a", "b")));
        }
        Assert.Empty(Directory.GetFileSystemEntries(kept));

        using (AtomicDirectory dir = AtomicDirectory.Create(Path.Combine(kept, "a", "out"), overwrite: false))
        {
            dir.Commit();
        }
        Assert.True(Directory.Exists(Path.Combine(kept, "a", "out")));
    }

    /// <summary>The folders made for an output are listed deepest first, and removed while empty.</summary>
    [Fact]
    public void Made_folders_are_removed_while_empty_and_kept_once_they_hold_something()
    {
        string a = _dir.File("a"), b = Path.Combine(a, "b"), c = Path.Combine(b, "c");
        Assert.Equal([c, b, a], MadeFolders.Create(c));
        Assert.Empty(MadeFolders.Create(c));
        File.WriteAllText(Path.Combine(a, "kept.txt"), "mine");
        MadeFolders.RemoveEmpty([c, b, a]);
        Assert.Equal(["kept.txt"], Directory.GetFileSystemEntries(a).Select(Path.GetFileName));

        // An output file makes its folders when it is written, and one whose write fails leaves none it made.
        AtomicFile.WriteAllText(Path.Combine(a, "new", "sub", "out.json"), "--out", "{}");
        Assert.Equal("{}", File.ReadAllText(Path.Combine(a, "new", "sub", "out.json")));
        Assert.Throws<IOException>(() => AtomicFile.WriteAllText(Path.Combine(a, "kept.txt", "x", "out.json"), "--out", "{}"));
        Assert.Equal(["kept.txt", "new"], Directory.GetFileSystemEntries(a).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    /// <summary>A mount point cannot be renamed onto: refused before any work, where it once failed at the very end.</summary>
    [LinuxFact]
    public void A_mount_point_is_refused_as_an_output()
    {
        Assert.True(MountPoints.IsMountPoint("/proc"));
        Assert.False(MountPoints.IsMountPoint(_dir.Path));
        var e = Assert.Throws<IOException>(() => AtomicDirectory.Create("/proc", overwrite: true));
        Assert.Equal("--out '/proc' is a mount point, which the finished output cannot be renamed onto; choose a folder inside it", e.Message);
    }

    [Fact]
    public void Atomic_directory_refuses_its_input_through_a_link_and_leaves_nothing()
    {
        string model = Dir("model");
        File.WriteAllText(Path.Combine(model, "in.txt"), "input");
        string link = Link("link", model);
        Assert.Throws<IOException>(() => AtomicDirectory.Create(model, overwrite: true, link));
        Assert.Throws<IOException>(() => AtomicDirectory.Create(link, overwrite: true, model));
        Assert.Equal(["in.txt"], Directory.GetFileSystemEntries(model).Select(Path.GetFileName));
        Assert.Equal(["link", "model"], Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    // With --force already given, the advice is to run again, not to add it.
    [Theory]
    [InlineData(false, "nothing was replaced: run again, with --force to replace it")]
    [InlineData(true, "nothing was replaced: run again to replace it")]
    public void An_output_another_run_creates_meanwhile_is_not_replaced_and_the_error_says_so(bool force, string advice)
    {
        string model = Dir("model");
        string output = _dir.File("out");
        using (AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: force, model))
        {
            File.WriteAllText(dir.File("mine.txt"), "mine");
            // Another run claims the same absent folder and finishes first.
            Directory.CreateDirectory(output);
            File.WriteAllText(Path.Combine(output, "theirs.txt"), "theirs");
            var e = Assert.Throws<IOException>(dir.Commit);
            Assert.EndsWith($"--out '{output}' was created by something else (another run?) while this run wrote it; {advice}", e.Message, StringComparison.Ordinal);
        }
        Assert.Equal(["theirs.txt"], Directory.GetFiles(output).Select(Path.GetFileName));
        Assert.Equal(["model", "out"], Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    public void Dispose() => _dir.Dispose();
}
