using Copal.Cli.Infrastructure;

namespace Copal.Cli.Tests;

/// <summary>How an exception becomes the one error line and the exit code (docs/cli.md).</summary>
public class CliErrorsTests
{
    /// <summary>
    /// A message quoting a name with a line break in it (a path, a tensor name) stays one line: the break is written
    /// as \n, so the error cannot pass for two lines, or hide a second one.
    /// </summary>
    [Fact]
    public void A_message_with_a_line_break_is_written_as_one_line()
    {
        var stderr = new StringWriter { NewLine = "\n" };
        int code = CliErrors.Report(new FileNotFoundException("'a\nb/config.json': file not found\r\ncopal: error: forged"), stderr);
        Assert.Equal(CliErrors.Failure, code);
        Assert.Equal("copal: error: 'a\\nb/config.json': file not found\\ncopal: error: forged\n", stderr.ToString());
    }

    /// <summary>A failure a parallel loop wraps alone in an AggregateException is reported as itself, with its own code.</summary>
    [Fact]
    public void A_single_wrapped_failure_is_reported_as_itself()
    {
        var stderr = new StringWriter { NewLine = "\n" };
        int code = CliErrors.Report(new AggregateException(new UsageException("--layers: expected a layer index")), stderr);
        Assert.Equal(CliErrors.Usage, code);
        Assert.Equal("copal: error: --layers: expected a layer index\n", stderr.ToString());
    }

    /// <summary>
    /// A refusal of an option's value is a usage error (2), as the README promises, also when the library finds it
    /// (--format nm of a model that is not 2:4, a pruning option, an option that differs from the resumed state's);
    /// the same failures without an option are the input's (1).
    /// </summary>
    [Fact]
    public void An_options_refusal_found_by_the_library_exits_2_and_the_inputs_exits_1()
    {
        var stderr = new StringWriter { NewLine = "\n" };
        Assert.Equal(CliErrors.Usage, CliErrors.Report(new Copal.Model.Weights.CompactFormatException("--format nm: not 2:4") { Option = "--format" }, stderr));
        Assert.Equal(CliErrors.Failure, CliErrors.Report(new Copal.Model.Weights.CompactFormatException("'w' is I8"), stderr));
        Assert.Equal(CliErrors.Usage, CliErrors.Report(new Copal.Prune.PruningOptionException("layers", "x", "a layer index"), stderr));
        Assert.Equal(CliErrors.Usage, CliErrors.Report(new Copal.Prune.Continual.CopalStateException("--decay differs from the state's") { Option = "--decay" }, stderr));
        Assert.Equal(CliErrors.Failure, CliErrors.Report(new Copal.Prune.Continual.CopalStateException("the state is damaged"), stderr));
        Assert.Equal("copal: error: --layers: expected a layer index, got 'x'", stderr.ToString().Split('\n')[2]);
    }
}
