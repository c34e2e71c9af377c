#:project ../../../src/Copal.Model/Copal.Model.csproj
// Renders JSON lines {"t": template, "v": {variables}} from stdin with Copal's ChatTemplate and writes one JSON line
// per case: {"ok": text}, or {"err": message, "kind": "raised" | "tpl" | "crash"} ("crash": any exception other than
// a ChatTemplateException, a defect). The variables are passed as Render's extra, so they replace messages, tools
// and the rest as given. Tool time only: `dotnet run render-copal.cs < cases.jsonl`.
using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Model.ChatTemplates;

using var output = new StreamWriter(Console.OpenStandardOutput());
string? line;
while ((line = Console.In.ReadLine()) is not null)
{
    using JsonDocument doc = JsonDocument.Parse(line);
    string template = doc.RootElement.GetProperty("t").GetString()!;
    var variables = doc.RootElement.GetProperty("v").EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone());
    var result = new JsonObject();
    try
    {
        result["ok"] = new ChatTemplate(template).Render([], addGenerationPrompt: false, tools: null, extra: variables);
    }
    catch (ChatTemplateRaisedException e)
    {
        result["err"] = e.TemplateMessage;
        result["kind"] = "raised";
    }
    catch (ChatTemplateException e)
    {
        result["err"] = e.Message;
        result["kind"] = "tpl";
    }
#pragma warning disable CA1031 // any other exception is what the tool looks for
    catch (Exception e)
#pragma warning restore CA1031
    {
        result["err"] = e.ToString();
        result["kind"] = "crash";
    }
    output.WriteLine(result.ToJsonString());
}
