namespace Copal.Model.ChatTemplates;

/// <summary>A parsed template's nodes, each once: for what is decided from the whole template once it is read.</summary>
internal static class NodeWalk
{
    public static IEnumerable<Node> Walk(Node node)
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
        FilterBlockNode f => [f.Filter, .. f.Body],
        CallBlockNode c => [c.Call, .. c.CallerParameters, .. c.Body],
        ArrayLiteralNode a => a.Items,
        TupleNode t => t.Items,
        ObjectLiteralNode o => o.Entries.SelectMany(e => new[] { e.Key, e.Value }),
        MemberNode m => [m.Target, m.Property],
        SliceNode s => new[] { s.Start, s.Stop, s.Step }.OfType<Node>(),
        CallNode c => [c.Callee, .. c.Arguments],
        KeywordArgumentNode k => [k.Value],
        BinaryNode b => [b.Left, b.Right],
        ComparisonChainNode c => [c.First, .. c.Links.Select(l => l.Operand)],
        UnaryNode u => [u.Operand],
        FilterNode f => [f.Operand, .. f.Arguments ?? []],
        TestNode t => [t.Operand],
        SelectNode s => [s.Value, s.Test],
        TernaryNode t => [t.Condition, t.WhenTrue, t.WhenFalse],
        _ => [],
    };

    /// <summary>The names a node assigns: a <c>set</c>'s target or a <c>for</c>'s loop variable, one or a tuple of them.</summary>
    public static IEnumerable<IdentifierNode> AssignedNames(Node node) => node switch
    {
        SetNode s => Names(s.Target),
        ForNode f => Names(f.LoopVariable),
        _ => [],
    };

    private static IEnumerable<IdentifierNode> Names(Node target) => target switch
    {
        IdentifierNode id => [id],
        TupleNode t => t.Items.SelectMany(Names),
        _ => [],
    };
}
