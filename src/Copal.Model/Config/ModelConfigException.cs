namespace Copal.Model.Config;

/// <summary>A config.json that Copal cannot use: names the file and the field, with expected and actual values.</summary>
public sealed class ModelConfigException : Exception
{
    public ModelConfigException(string path, string message)
        : base($"{path}: {message}") => FilePath = path;

    public ModelConfigException(string path, string message, Exception inner)
        : base($"{path}: {message}", inner) => FilePath = path;

    public string FilePath { get; }
}
