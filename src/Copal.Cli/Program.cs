namespace Copal.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        Console.Error.WriteLine("copal: no commands yet");
        return args.Length == 0 ? 1 : 1;
    }
}
