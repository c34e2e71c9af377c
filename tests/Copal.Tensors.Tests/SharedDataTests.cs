using Copal.Testing;

namespace Copal.Tensors.Tests;

public class SharedDataTests
{
    [Fact]
    public void Shared_data_folder_is_found()
    {
        Assert.True(Directory.Exists(TestData.Stories260K), TestData.Stories260K);
    }
}
