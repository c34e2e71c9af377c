namespace Copal.Model.Config;

/// <summary>A config.json that Copal cannot use: names the file and the field, with expected and actual values.</summary>
public sealed class ModelConfigException : Exception
{
    /// <summary>An error in the config file <paramref name="path"/>; the message is prefixed with the path.</summary>
    public ModelConfigException(string path, string message)
        : base($"{path}: {message}") => FilePath = path;

    /// <summary>An error in the config file <paramref name="path"/> caused by <paramref name="inner"/>; the message is prefixed with the path.</summary>
    public ModelConfigException(string path, string message, Exception inner)
        : base($"{path}: {message}", inner) => FilePath = path;

    /// <summary>The config file (or the source name given to <see cref="LlamaConfig.Parse"/>).</summary>
    public string FilePath { get; }
}
