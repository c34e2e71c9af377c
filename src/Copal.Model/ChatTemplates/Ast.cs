namespace Copal.Model.ChatTemplates;

/// <summary>A node of the template's syntax tree; <see cref="Position"/> indexes <see cref="TemplateSource.Text"/>.</summary>
internal abstract record Node(int Position);

internal sealed record TemplateBody(IReadOnlyList<Node> Body) : Node(0);

internal sealed record TextNode(string Value, int Position) : Node(Position);

internal sealed record CommentNode(int Position) : Node(Position);

internal sealed record IfNode(Node Test, IReadOnlyList<Node> Body, IReadOnlyList<Node> Alternate, int Position) : Node(Position);

// LoopVariable: An IdentifierNode or a TupleNode of them.
internal sealed record ForNode(Node LoopVariable, Node Iterable, IReadOnlyList<Node> Body, IReadOnlyList<Node> Else, int Position) : Node(Position);

// Value: null for a block set (<c>{% set x %}...{% endset %}</c>), whose value is Body rendered.
internal sealed record SetNode(Node Target, Node? Value, IReadOnlyList<Node> Body, int Position) : Node(Position);

// Parameters: IdentifierNodes and KeywordArgumentNodes (a parameter with its default).
// Filter: FilterNodes whose innermost operand is the identifier BodyName, bound to Body's text when it is applied.
internal sealed record FilterBlockNode(Node Filter, IReadOnlyList<Node> Body, int Position) : Node(Position)
{
    /// <summary>Not a name a template can write (it has spaces), so the body's text never meets a template's variable.</summary>
    public const string BodyName = "filter block body";
}

// {% call(CallerParameters) Call %}Body{% endcall %}: Call (a CallNode) with `caller` rendering Body.
internal sealed record CallBlockNode(Node Call, IReadOnlyList<Node> CallerParameters, IReadOnlyList<Node> Body, int Position) : Node(Position);

internal sealed record MacroNode(string Name, IReadOnlyList<Node> Parameters, IReadOnlyList<Node> Body, int Position) : Node(Position);

internal sealed record BreakNode(int Position) : Node(Position);

internal sealed record ContinueNode(int Position) : Node(Position);

internal sealed record IntegerLiteralNode(long Value, int Position) : Node(Position);

internal sealed record FloatLiteralNode(double Value, int Position) : Node(Position);

internal sealed record StringLiteralNode(string Value, int Position) : Node(Position);

internal sealed record ArrayLiteralNode(IReadOnlyList<Node> Items, int Position) : Node(Position);

internal sealed record TupleNode(IReadOnlyList<Node> Items, int Position) : Node(Position);

internal sealed record ObjectLiteralNode(IReadOnlyList<(Node Key, Node Value)> Entries, int Position) : Node(Position);

internal sealed record IdentifierNode(string Name, int Position) : Node(Position);

// Computed: true for <c>a[b]</c>, false for <c>a.b</c> (then Property is an identifier or an integer).
internal sealed record MemberNode(Node Target, Node Property, bool Computed, int Position) : Node(Position);

/// <summary><c>[start:stop:step]</c>; a missing part is null.</summary>
internal sealed record SliceNode(Node? Start, Node? Stop, Node? Step, int Position) : Node(Position);

internal sealed record CallNode(Node Callee, IReadOnlyList<Node> Arguments, int Position) : Node(Position);

internal sealed record KeywordArgumentNode(string Name, Node Value, int Position) : Node(Position);

internal sealed record BinaryNode(string Operator, Node Left, Node Right, int Position) : Node(Position);

/// <summary>
/// Two or more comparisons in a row (<c>a &lt; b &lt;= c</c>), which Python chains: each link compares its operand with
/// the one before it; Position is the first operator's.
/// </summary>
internal sealed record ComparisonChainNode(Node First, IReadOnlyList<(string Operator, Node Operand, int Position)> Links, int Position) : Node(Position);

internal sealed record UnaryNode(string Operator, Node Operand, int Position) : Node(Position);

// Arguments: null for <c>x | f</c>, a list for <c>x | f(...)</c>.
internal sealed record FilterNode(Node Operand, string Name, IReadOnlyList<Node>? Arguments, int Position) : Node(Position);

// Argument: the one argument of <c>x is name arg</c> or <c>x is name(arg)</c>; null for <c>x is name</c>.
internal sealed record TestNode(Node Operand, bool Negate, string Name, int Position, Node? Argument = null) : Node(Position);

/// <summary><c>a if c</c> without else: a when c is true, else undefined.</summary>
internal sealed record SelectNode(Node Value, Node Test, int Position) : Node(Position);

internal sealed record TernaryNode(Node Condition, Node WhenTrue, Node WhenFalse, int Position) : Node(Position);
