using Copal.Model.Evaluation;
using Copal.Prune.Continual.Protocol;

namespace Copal.Prune.Tests.Continual;

public class ContinualProtocolTests
{
    [Fact]
    public void Dataset_specs_follow_the_grammar()
    {
        var list = ContinualDataset.ParseList("tiny=a.txt:b.txt, wiki=w.txt ,ptb=v.txt:t.txt@lines");
        Assert.Equal(["tiny", "wiki", "ptb"], list.Select(d => d.Name));
        Assert.Equal(new DataSplit("a.txt", FilePart.Whole, TextLayout.Raw), list[0].Calibration);
        Assert.Equal(new DataSplit("b.txt", FilePart.Whole, TextLayout.Raw), list[0].Evaluation);
        Assert.Equal(new DataSplit("w.txt", FilePart.FirstHalf, TextLayout.Raw), list[1].Calibration);
        Assert.Equal(new DataSplit("w.txt", FilePart.SecondHalf, TextLayout.Raw), list[1].Evaluation);
        Assert.Equal(TextLayout.JoinedLines, list[2].Calibration.Layout);
        Assert.Equal(TextLayout.JoinedLines, list[2].Evaluation.Layout);
        foreach (string bad in new[] { "noequals", "=a.txt", "x=", "x=a:b:c", "x=a@words", "x=a,x=b" })
        {
            Assert.Throws<PruningOptionException>(() => ContinualDataset.ParseList(bad));
        }
    }

    [Fact]
    public void Halves_split_at_a_line_boundary_and_cover_the_file()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "one two\nthree\nfour five six\nseven\n");
            string first = new DataSplit(path, FilePart.FirstHalf, TextLayout.Raw).LoadText();
            string second = new DataSplit(path, FilePart.SecondHalf, TextLayout.Raw).LoadText();
            Assert.Equal("one two\nthree\nfour five six\nseven\n", first + second);
            Assert.EndsWith("\n", first, StringComparison.Ordinal);
            Assert.Equal("one two three four five six", new DataSplit(path, FilePart.FirstHalf, TextLayout.JoinedLines).LoadText());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Final_average_and_bwt_follow_the_protocol()
    {
        double[][] r = [[10, 50, 40], [12, 20, 45], [16, 26, 30]];
        Assert.Equal((16 + 26 + 30) / 3.0, ContinualRunner.FinalAverage(r), 12);
        // ((16 − 10) + (26 − 20)) / 2
        Assert.Equal(6.0, ContinualRunner.Bwt(r)!.Value, 12);
        Assert.Null(ContinualRunner.Bwt([[5.0]]));
    }
}
