using System.Reflection;

namespace Copal.Model.Tests.Tokenization;

/// <summary>The tokenizer tests write small tokenizer files; every one is gone when its test ends.</summary>
public class TempFileHygieneTests
{
    [Fact]
    public void Tokenizer_tests_leave_no_temporary_files()
    {
        var written = new List<string>();
        using (TinyTokenizerJson.Record(written))
        {
            foreach (Type type in new[] { typeof(BehaviorTests), typeof(ErrorTests) })
            {
                RunAll(type);
            }
        }
        Assert.NotEmpty(written);
        Assert.Equal([], written.Where(p => File.Exists(p) || Directory.Exists(p)));
    }

    // Runs every [Fact] and every [InlineData] row of the [Theory]s of `type` in this thread.
    private static void RunAll(Type type)
    {
        foreach (MethodInfo method in type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
        {
            IEnumerable<object?[]> rows = method.GetCustomAttribute<TheoryAttribute>() is not null
                ? method.GetCustomAttributes<InlineDataAttribute>().SelectMany(d => d.GetData(method))
                : method.GetCustomAttribute<FactAttribute>() is not null ? [[]] : [];
            foreach (object?[] row in rows)
            {
                object instance = Activator.CreateInstance(type)!;
                try
                {
                    method.Invoke(instance, row);
                }
                finally
                {
                    (instance as IDisposable)?.Dispose();
                }
            }
        }
    }
}
