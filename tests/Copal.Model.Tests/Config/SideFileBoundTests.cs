using Copal.Model.Config;
using Copal.Model.Tokenization;
using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Model.Tests.Config;

/// <summary>
/// A model's side files are read whole. One far larger than any such file (a data set given the name by mistake, a
/// link to a device) was read into memory until the process ran out of it; past <see cref="BoundedFile.SideFileMaxBytes"/>
/// it is refused in one line naming the file. The files here are sparse: their length alone is refused, nothing is read.
/// </summary>
public sealed class SideFileBoundTests : IDisposable
{
    private readonly TempDir _model = new("copal-side-file-bound-");

    public SideFileBoundTests()
    {
        foreach (string file in Directory.EnumerateFiles(TestData.Stories260K))
        {
            File.Copy(file, Path.Combine(_model.Path, Path.GetFileName(file)));
        }
        File.WriteAllText(_model.File("tokenizer_config.json"), "{}");
    }

    public static TheoryData<string> Files() => ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"];

    [Theory]
    [MemberData(nameof(Files))]
    public void A_side_file_larger_than_any_such_file_is_refused_naming_it(string name)
    {
        string path = _model.File(name);
        File.Delete(path);
        using (var stream = new FileStream(path, FileMode.CreateNew))
        {
            stream.SetLength(BoundedFile.SideFileMaxBytes + 1);
        }
        Action load = name switch
        {
            "config.json" => () => LlamaConfig.Load(_model.Path),
            "generation_config.json" => () => GenerationConfig.EosTokenIds(_model.Path, 512),
            _ => () => CopalTokenizer.FromDirectory(_model.Path),
        };
        Exception e = Assert.ThrowsAny<Exception>(load);
        Assert.StartsWith(path + ": ", e.Message, StringComparison.Ordinal);
        Assert.EndsWith($": it is {BoundedFile.SideFileMaxBytes + 1} bytes, more than a {name} holds (at most {BoundedFile.SideFileMaxBytes})", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A side file that is a named pipe is refused before it is opened, in the words cli.md gives: generation_config.json
    /// said "is not readable JSON: it is a named pipe", though nothing of it was read, let alone as JSON.
    /// </summary>
    [LinuxTheory]
    [InlineData("config.json")]
    [InlineData("generation_config.json")]
    public void A_side_file_that_is_a_named_pipe_cannot_be_read(string name)
    {
        string path = _model.File(name);
        File.Delete(path);
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [path]))
        {
            mkfifo.WaitForExit();
            Assert.Equal(0, mkfifo.ExitCode);
        }
        Action load = name == "config.json" ? () => LlamaConfig.Load(_model.Path) : () => GenerationConfig.EosTokenIds(_model.Path, 512);
        Exception e = Assert.ThrowsAny<ModelConfigException>(load);
        Assert.Equal($"{path}: cannot be read: it is a named pipe, expected a regular file (opening a pipe waits for a writer)", e.Message);
    }

    public void Dispose() => _model.Dispose();
}
