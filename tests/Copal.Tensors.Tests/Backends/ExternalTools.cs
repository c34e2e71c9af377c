using System.Diagnostics;

namespace Copal.Tensors.Tests.Backends;

/// <summary>Programs some tests check generated code with (NVIDIA's ptxas, clang), found on PATH, and run to their end.</summary>
internal static class ExternalTools
{
    /// <summary>Program <paramref name="name"/> in <paramref name="folder"/> (when given) or on PATH, or null.</summary>
    public static string? Find(string name, string? folder = null) => Find([name], folder);

    /// <summary>The first of <paramref name="names"/> found in <paramref name="folder"/> (when given) or on PATH, or null.</summary>
    public static string? Find(string[] names, string? folder = null)
    {
        string[] folders = [.. folder is null ? [] : new[] { folder },
            .. (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)];
        return names.SelectMany(name => folders.Select(f => Path.Combine(f, name))).FirstOrDefault(File.Exists);
    }

    /// <summary>Runs <paramref name="tool"/> and returns its exit code with its standard output and error.</summary>
    public static (int Exit, string Output) Run(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"{tool} did not start");
        Task<string> error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }
}
