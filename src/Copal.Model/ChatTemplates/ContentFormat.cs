namespace Copal.Model.ChatTemplates;

/// <summary>
/// Whether a template reads a message's content as OpenAI's list of parts (<c>{"type": "text", "text": ...}</c>)
/// rather than as a string. Llama Guard 3 and the vision models' templates loop over <c>message['content']</c>
/// (often through <c>selectattr('type', 'equalto', 'text')</c>); handed a string, such a loop walks its characters and
/// the conversation comes out empty or refused. vLLM looks for the same loop to decide (its "openai" content format),
/// and Hugging Face's processors hand those templates lists. Read once, from the parsed template.
/// </summary>
internal static class ContentFormat
{
    /// <summary>
    /// True when a <c>for</c> loop iterates a <c>content</c> member (<c>x['content']</c>, <c>x.content</c>), through
    /// filters or not, or a variable set from one.
    /// </summary>
    public static bool IteratesContentParts(TemplateBody body)
    {
        var fromContent = new HashSet<string>(StringComparer.Ordinal);
        List<Node> nodes = [.. Walk(body)];
        foreach (Node node in nodes)
        {
            if (node is SetNode { Target: IdentifierNode name, Value: Node value } && IsContent(Unfiltered(value)))
            {
                fromContent.Add(name.Name);
            }
        }
        return nodes.OfType<ForNode>().Any(f => Unfiltered(f.Iterable) switch
        {
            IdentifierNode name => fromContent.Contains(name.Name),
            Node n => IsContent(n),
        });
    }

    private static Node Unfiltered(Node node) => node is FilterNode f ? Unfiltered(f.Operand) : node;

    private static bool IsContent(Node node) => node is MemberNode { Property: StringLiteralNode { Value: "content" } or IdentifierNode { Name: "content" } };

    private static IEnumerable<Node> Walk(Node node)
    {
        var pending = new Stack<Node>();
        pending.Push(node);
        while (pending.TryPop(out Node? n))
        {
            yield return n;
            foreach (Node child in Children(n))
            {
                pending.Push(child);
            }
        }
    }

    private static IEnumerable<Node> Children(Node node) => node switch
    {
        TemplateBody b => b.Body,
        IfNode i => [i.Test, .. i.Body, .. i.Alternate],
        ForNode f => [f.LoopVariable, f.Iterable, .. f.Body, .. f.Else],
        SetNode s => s.Value is null ? [s.Target, .. s.Body] : [s.Target, s.Value, .. s.Body],
        MacroNode m => [.. m.Parameters, .. m.Body],
        ArrayLiteralNode a => a.Items,
        TupleNode t => t.Items,
        ObjectLiteralNode o => o.Entries.SelectMany(e => new[] { e.Key, e.Value }),
        MemberNode m => [m.Target, m.Property],
        SliceNode s => new[] { s.Start, s.Stop, s.Step }.OfType<Node>(),
        CallNode c => [c.Callee, .. c.Arguments],
        KeywordArgumentNode k => [k.Value],
        BinaryNode b => [b.Left, b.Right],
        UnaryNode u => [u.Operand],
        FilterNode f => [f.Operand, .. f.Arguments ?? []],
        TestNode t => [t.Operand],
        SelectNode s => [s.Value, s.Test],
        TernaryNode t => [t.Condition, t.WhenTrue, t.WhenFalse],
        _ => [],
    };
}
