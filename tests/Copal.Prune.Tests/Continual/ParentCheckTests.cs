using Copal.Prune.Continual;
using Copal.Testing;

namespace Copal.Prune.Tests.Continual;

/// <summary>
/// A state remembers the folder it last found to be its dense parent, so a run on that folder need not hash it again.
/// The memo must serve that folder only, and only while its files are unchanged: any other folder, or the same folder
/// with a weight rewritten, is hashed again and refused when its hash is not the parent's.
/// </summary>
public sealed class ParentCheckTests : IDisposable
{
    private readonly TempDir _temp = new("copal-parent-check-");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void A_state_checked_against_its_parent_hashes_another_folder_and_refuses_it()
    {
        string parent = TestData.CopyOfStories260K(_temp.File("parent"));
        string other = TestData.CopyOfStories260K(_temp.File("other"));
        ChangeOneWeightByte(Path.Combine(other, "model.safetensors"));
        CopalState state = CheckedAgainst(parent);

        var e = Assert.Throws<CopalStateException>(() => state.RequireParent(other, "the model", CancellationToken.None));
        Assert.Contains($"'{other}' has hash {ParentHash.Compute(other)}", e.Message, StringComparison.Ordinal);
        // The memo still serves the parent.
        state.RequireParent(parent, "the model", CancellationToken.None);
    }

    [Fact]
    public void A_weight_file_rewritten_with_the_same_length_is_hashed_again_and_refused()
    {
        string parent = TestData.CopyOfStories260K(_temp.File("parent"));
        CopalState state = CheckedAgainst(parent);
        string weights = Path.Combine(parent, "model.safetensors");
        long length = new FileInfo(weights).Length;
        DateTime written = File.GetLastWriteTimeUtc(weights);

        ChangeOneWeightByte(weights);
        // A rewrite's own time, set so that a coarse file clock cannot give the old one back.
        File.SetLastWriteTimeUtc(weights, written.AddSeconds(2));
        Assert.Equal(length, new FileInfo(weights).Length);

        var e = Assert.Throws<CopalStateException>(() => state.RequireParent(parent, "the model", CancellationToken.None));
        Assert.Contains($"has hash {ParentHash.Compute(parent)}", e.Message, StringComparison.Ordinal);
    }

    // A state of the parent in `folder`, which it was just hashed against (as CopalRun.StartOrResume leaves one).
    private static CopalState CheckedAgainst(string folder)
    {
        string hash = ParentHash.Compute(folder);
        var state = new CopalState(hash, folder, new CopalOptions());
        state.ParentHashedAt(folder, hash);
        return state;
    }

    // Flips the low bit of the file's first weight byte after its header: the same length, another tensor value.
    private static void ChangeOneWeightByte(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        long headerLength = BitConverter.ToInt64(bytes, 0);
        bytes[8 + headerLength] ^= 1;
        File.WriteAllBytes(path, bytes);
    }
}
