using System.Diagnostics;
using System.Globalization;
using Copal.Tensors.IO;
using Copal.Tensors.Tests.Safetensors;

namespace Copal.Tensors.Tests.IO;

/// <summary>Temporary names say who owns them, so a later run removes a killed run's leftovers and nothing else.</summary>
public sealed class TemporaryNamesTests : IDisposable
{
    private readonly TempDir _dir = new();

    [Fact]
    public void Only_leftovers_of_gone_processes_in_our_pid_namespace_are_removed()
    {
        int dead;
        using (Process done = Process.Start("true"))
        {
            done.WaitForExit();
            dead = done.Id;
        }
        string ns = TemporaryNames.Owner.Split('-')[2];
        string pid = dead.ToString(CultureInfo.InvariantCulture);
        string goneFolder = Directory.CreateDirectory(_dir.File($".out.tmp-{pid}-7-{ns}-0")).FullName;
        File.WriteAllText(Path.Combine(goneFolder, "partial"), "x");
        File.WriteAllText(_dir.File($".model.safetensors.tmp-{pid}-7-{ns}-1"), "x");
        string otherNamespace = Directory.CreateDirectory(_dir.File($".out.tmp-{pid}-7-{ns}9-2")).FullName;
        string mine = Directory.CreateDirectory(TemporaryNames.Sibling(_dir.File("out"), "tmp")).FullName;
        string visible = Directory.CreateDirectory(_dir.File($"out.tmp-{pid}-7-{ns}-3")).FullName;

        IReadOnlyList<string> removed = TemporaryNames.RemoveStale(_dir.Path);

        Assert.Equal([$".model.safetensors.tmp-{pid}-7-{ns}-1", $".out.tmp-{pid}-7-{ns}-0"], removed.Order(StringComparer.Ordinal));
        Assert.True(Directory.Exists(otherNamespace));
        Assert.True(Directory.Exists(mine));
        Assert.True(Directory.Exists(visible));
        Assert.StartsWith(_dir.File($".out.tmp-{TemporaryNames.Owner}-"), mine);
    }

    public void Dispose() => _dir.Dispose();
}
