using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Tensors.Tests.IO;

/// <summary>
/// An output that another run holds (OutputFolderLock refuses it) and that would be refused anyway is refused for what
/// would refuse it anyway: waiting for the other run, as the "in use" line advises, would only lead to that refusal.
/// What another run may be writing (a folder a state writer holds) is not judged: its files are that run's staging.
/// flock is per open file, so a lock in this process meets another of this process's as another run's would.
/// </summary>
public sealed class OutputRefusalOrderTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-order-");

    public void Dispose() => _dir.Dispose();

    private string Output(bool config = true)
    {
        string output = Directory.CreateDirectory(_dir.File("out")).FullName;
        if (config)
        {
            File.WriteAllText(Path.Combine(output, "config.json"), "old");
        }
        string state = Directory.CreateDirectory(Path.Combine(output, "a-st")).FullName;
        File.WriteAllText(Path.Combine(state, "copal-state.json"), "{}");
        File.WriteAllText(Path.Combine(state, "copal-state.safetensors"), "x");
        return output;
    }

    private static string InUse(string output, string? inner) =>
        $"--out '{output}'{(inner is null ? "" : $": its folder '{inner}'")} is in use by another copal run, which reads a model or a state there, or writes a state there "
        + "(its lock on the folder ends with it); run again once that run has ended, or choose another folder";

    [LinuxFact]
    public void Force_over_an_output_with_a_folder_of_a_persons_is_refused_for_that_folder_while_another_run_reads_a_state_in_it()
    {
        string output = Output();
        Directory.CreateDirectory(Path.Combine(output, "photos"));
        using FolderLock? reader = FolderLock.TryAcquireToRead(Path.Combine(output, "a-st"));
        Assert.NotNull(reader);

        var e = Assert.Throws<IOException>(() => AtomicDirectory.Create(output, overwrite: true));

        Assert.Equal($"--out '{output}' holds the folder 'photos', so it does not look like a model or report copal wrote; --force replaces only those: "
            + "empty it or choose another folder", e.Message);
    }

    [LinuxFact]
    public void Force_over_a_folder_without_a_model_or_report_is_refused_for_that_while_another_run_reads_a_state_in_it()
    {
        string output = Output(config: false);
        using FolderLock? reader = FolderLock.TryAcquireToRead(Path.Combine(output, "a-st"));
        Assert.NotNull(reader);

        var e = Assert.Throws<IOException>(() => AtomicDirectory.Create(output, overwrite: true));

        Assert.StartsWith($"--out '{output}' holds no config.json or report, so it does not look like a model or report copal wrote", e.Message, StringComparison.Ordinal);
    }

    [LinuxTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void Without_force_an_output_that_another_run_reads_is_refused_as_not_empty(bool inner)
    {
        string output = Output();
        using FolderLock? reader = FolderLock.TryAcquireToRead(inner ? Path.Combine(output, "a-st") : output);
        Assert.NotNull(reader);

        var e = Assert.Throws<IOException>(() => AtomicDirectory.Create(output, overwrite: false));

        Assert.Equal($"--out '{output}' exists and is not empty; pass --force to replace it", e.Message);
    }

    /// <summary>A folder another run writes a state into holds that run's staged files: "in use" is what is said, as before.</summary>
    [LinuxTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void An_output_that_another_run_writes_a_state_into_is_refused_as_in_use(bool force)
    {
        string output = Output(config: false);
        using FolderLock? writer = FolderLock.TryAcquireToWrite(output, ".lock");
        Assert.NotNull(writer);

        var e = Assert.Throws<IOException>(() => AtomicDirectory.Create(output, overwrite: force));

        Assert.Equal(InUse(output, null), e.Message);
    }
}
