using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Tensors.Tests.IO;

/// <summary>
/// The temporary folder an output is written in is named predictably (the process's id and start, a counter: see
/// TemporaryNames), beside the output, which may be in a shared folder. A link planted at that name was taken as the
/// folder (Directory.CreateDirectory accepts a link to a folder), and the output's files were written through it into
/// the folder it names, over files of the same name there. A name already taken is now refused.
/// </summary>
public sealed class TemporaryFolderLinkTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-link-");

    public void Dispose() => _dir.Dispose();

    [LinuxFact]
    public void A_link_at_the_temporary_name_is_not_written_through()
    {
        string output = _dir.File("out");
        string victim = Directory.CreateDirectory(_dir.File("victim")).FullName;
        File.WriteAllText(Path.Combine(victim, "config.json"), "mine");
        PlantLinks(output, victim);

        var e = Assert.Throws<IOException>(() =>
        {
            using AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: false);
            dir.WriteText("config.json", "written through the link");
        });

        Assert.StartsWith($"--out '{output}': cannot create a folder there: ", e.Message, StringComparison.Ordinal);
        Assert.Equal(["config.json"], Directory.GetFileSystemEntries(victim).Select(Path.GetFileName));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(victim, "config.json")));
    }

    /// <summary>As above for an output file (logits -o): its temporary file was opened through a link at its name, truncating the file the link names.</summary>
    [LinuxFact]
    public void A_link_at_a_files_temporary_name_is_not_written_through()
    {
        string output = _dir.File("logits.json");
        string victim = _dir.File("victim.txt");
        File.WriteAllText(victim, "mine");
        PlantLinks(output, victim);

        var e = Assert.Throws<IOException>(() => AtomicFile.WriteAllText(output, "--out", "written through the link"));

        Assert.StartsWith($"--out '{output}': cannot write ", e.Message, StringComparison.Ordinal);
        Assert.Equal("mine", File.ReadAllText(victim));
        Assert.False(File.Exists(output));
    }

    // Links to `target` at the next temporary names beside `output` this process hands out (other tests may take some meanwhile).
    private static void PlantLinks(string output, string target)
    {
        string next = TemporaryNames.Sibling(output, "tmp");
        int dash = next.LastIndexOf('-');
        long n = long.Parse(next[(dash + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        for (long k = 1; k <= 2000; k++)
        {
            File.CreateSymbolicLink($"{next[..(dash + 1)]}{n + k}", target);
        }
    }
}
