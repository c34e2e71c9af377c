using System.Runtime.CompilerServices;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// Builds the syntax tree with the grammar and operator precedence of @huggingface/jinja's parser (lowest first):
/// <c>a if c else b</c>, <c>or</c>, <c>and</c>, <c>not</c>, comparisons and <c>in</c>/<c>not in</c>, <c>+ - ~</c>,
/// <c>* / // %</c>, <c>**</c>, <c>is</c> tests, <c>|</c> filters, signs, then calls, members, slices and literals.
/// Statements: if/elif/else, for (with a loop filter and else), set (also to a namespace attribute, a tuple, or a block),
/// macro, call and filter blocks, break, continue. Everything else (include, extends, argument unpacking...) is refused
/// with its name and position. This file reads statements; ExpressionParser.cs reads expressions.
/// </summary>
internal sealed partial class Parser
{
    private readonly List<Token> _tokens;
    /// <summary>Nesting of expressions and blocks allowed before refusing (deeper input would exhaust the stack).</summary>
    internal const int MaxDepth = 200;

    private readonly TemplateSource _source;
    private int _current;
    private int _depth;

    private Parser(List<Token> tokens, TemplateSource source)
    {
        _tokens = tokens;
        _source = source;
    }

    public static TemplateBody Parse(TemplateSource source)
    {
        var parser = new Parser(Lexer.Tokenize(source), source);
        var body = new List<Node>();
        while (parser._current < parser._tokens.Count)
        {
            body.Add(parser.ParseAny());
        }
        return new TemplateBody(body);
    }

    private ChatTemplateException Error(int position, string what) => new($"chat template {_source.Where(position)}: {what}");

    private int EndPosition => _source.Text.Length;

    private Token Peek(int ahead = 0) => _current + ahead < _tokens.Count ? _tokens[_current + ahead]
        : throw Error(EndPosition, "the template ends inside a tag or block");

    private bool Is(TokenKind kind) => _current < _tokens.Count && _tokens[_current].Kind == kind;

    private bool IsIdentifier(string name) => Is(TokenKind.Identifier) && _tokens[_current].Value == name;

    private bool IsIdentifiers(string first, string second) => IsIdentifier(first) && _current + 1 < _tokens.Count
        && _tokens[_current + 1].Kind == TokenKind.Identifier && _tokens[_current + 1].Value == second;

    private bool IsStatement(params string[] names) => _current + 1 < _tokens.Count
        && _tokens[_current].Kind == TokenKind.OpenStatement && _tokens[_current + 1].Kind == TokenKind.Identifier
        && names.Contains(_tokens[_current + 1].Value);

    private static string Describe(Token t) => t.Kind switch
    {
        TokenKind.Text => "text",
        TokenKind.StringLiteral => $"string '{t.Value}'",
        _ => $"'{t.Value}'",
    };

    private Token Expect(TokenKind kind, string what)
    {
        if (_current >= _tokens.Count)
        {
            throw Error(EndPosition, $"expected {what}, but the template ends");
        }
        Token t = _tokens[_current];
        if (t.Kind != kind)
        {
            throw Error(t.Position, $"expected {what}, found {Describe(t)}");
        }
        _current++;
        return t;
    }

    // Items of a list, mapping or argument list are separated by commas, as in Jinja2. The reference reads
    // `[1 e3]` as two items and `f(a b)` as two arguments, so Python's `[1e3]` (one float) rendered as `[1, undefined]`.
    private void ExpectCommaOr(TokenKind close, string closeText)
    {
        if (Is(TokenKind.Comma))
        {
            _current++;
        }
        else if (!Is(close))
        {
            Expect(close, $"',' or {closeText}");
        }
    }

    private void ExpectEnd(string keyword, Token opener)
    {
        if (_current >= _tokens.Count)
        {
            throw Error(opener.Position, $"'{opener.Value}' is never closed with {{% {keyword} %}}");
        }
        Expect(TokenKind.OpenStatement, $"{{% {keyword} %}}");
        if (!IsIdentifier(keyword))
        {
            throw Error(Peek().Position, $"expected {{% {keyword} %}}, found {Describe(Peek())}");
        }
        _current++;
        Expect(TokenKind.CloseStatement, $"%}} after '{keyword}'");
    }

    // A block statement's node, once its closing tag follows it.
    private Node Closed(Node node, string keyword, Token opener)
    {
        ExpectEnd(keyword, opener);
        return node;
    }

    /// <summary>Parses nodes until one of the given statements (not consumed) starts.</summary>
    private List<Node> ParseUntil(Token opener, params string[] ends)
    {
        var body = new List<Node>();
        while (!IsStatement(ends))
        {
            if (_current >= _tokens.Count)
            {
                throw Error(opener.Position, $"'{opener.Value}' is never closed with {{% {ends[^1]} %}}");
            }
            body.Add(ParseAny());
        }
        return body;
    }

    private Node ParseAny()
    {
        Token t = Peek();
        switch (t.Kind)
        {
            case TokenKind.Comment:
                _current++;
                return new CommentNode(t.Position);
            case TokenKind.Text:
                _current++;
                return new TextNode(t.Value, t.Position);
            case TokenKind.OpenStatement:
                return ParseStatement();
            case TokenKind.OpenExpression:
                _current++;
                Node e = ParseExpression();
                Expect(TokenKind.CloseExpression, "}} to close the expression");
                return e;
            default:
                throw Error(t.Position, $"unexpected {Describe(t)} outside a tag");
        }
    }

    private Node ParseStatement()
    {
        Enter();
        try
        {
            return ParseStatementBody();
        }
        finally
        {
            _depth--;
        }
    }

    private Node ParseStatementBody()
    {
        Expect(TokenKind.OpenStatement, "{%");
        Token name = Peek();
        if (name.Kind != TokenKind.Identifier)
        {
            throw Error(name.Position, $"expected a statement name after {{%, found {Describe(name)}");
        }
        _current++;
        switch (name.Value)
        {
            case "set":
                return ParseSet(name);
            case "if":
                return Closed(ParseIf(name), "endif", name);
            case "for":
                return Closed(ParseFor(name), "endfor", name);
            case "macro":
                return Closed(ParseMacro(name), "endmacro", name);
            case "break":
                Expect(TokenKind.CloseStatement, "%} after 'break'");
                return new BreakNode(name.Position);
            case "continue":
                Expect(TokenKind.CloseStatement, "%} after 'continue'");
                return new ContinueNode(name.Position);
            case "call":
                return Closed(ParseCallBlock(name), "endcall", name);
            case "filter":
                return Closed(ParseFilterBlock(name), "endfilter", name);
            case "elif" or "else" or "endif" or "endfor" or "endmacro" or "endset" or "endfilter" or "endcall":
                throw Error(name.Position, $"'{{% {name.Value} %}}' without a matching opening tag");
            default:
                throw Error(name.Position, $"statement '{{% {name.Value} %}}' is not supported");
        }
    }

    private SetNode ParseSet(Token opener)
    {
        Node target = ParseExpressionSequence(primary: false);
        if (target is not (IdentifierNode or TupleNode or MemberNode { Computed: false }))
        {
            throw Error(target.Position, "the target of 'set' must be a name, a tuple of names or namespace.attribute");
        }
        if (Is(TokenKind.Equals))
        {
            _current++;
            Node value = ParseExpressionSequence(primary: false);
            Expect(TokenKind.CloseStatement, "%} to close 'set'");
            return new SetNode(target, value, [], opener.Position);
        }
        Expect(TokenKind.CloseStatement, "'=' or %} in 'set'");
        List<Node> body = ParseUntil(opener, "endset");
        ExpectEnd("endset", opener);
        return new SetNode(target, null, body, opener.Position);
    }

    // {% call m(args) %}body{% endcall %}, or {% call(params) m(args) %} where m calls caller(values).
    private CallBlockNode ParseCallBlock(Token opener)
    {
        List<Node> parameters = Is(TokenKind.OpenParen) ? ParseArguments(parameters: true) : [];
        Node call = ParseExpression();
        if (call is not CallNode)
        {
            throw Error(call.Position, "'call' needs a macro call, e.g. {% call m() %}");
        }
        Expect(TokenKind.CloseStatement, "%} to close 'call'");
        List<Node> body = ParseUntil(opener, "endcall");
        return new CallBlockNode(call, parameters, body, opener.Position);
    }

    // {% filter f(args) | g %}body{% endfilter %}: the filters applied to the body's text, which the chain reads
    // through a name no template can write (Jinja2 takes a chain; the reference takes one filter).
    private FilterBlockNode ParseFilterBlock(Token opener)
    {
        Node filters = ParseFilters(new IdentifierNode(FilterBlockNode.BodyName, opener.Position), named: true);
        Expect(TokenKind.CloseStatement, "%} to close 'filter'");
        List<Node> body = ParseUntil(opener, "endfilter");
        return new FilterBlockNode(filters, body, opener.Position);
    }

    private IfNode ParseIf(Token opener)
    {
        Node test = ParseExpression();
        Expect(TokenKind.CloseStatement, "%} to close 'if'");
        List<Node> body = ParseUntil(opener, "elif", "else", "endif");
        var alternate = new List<Node>();
        if (IsStatement("elif"))
        {
            _current++;
            Token elif = Peek();
            _current++;
            alternate.Add(ParseIf(elif));
        }
        else if (IsStatement("else"))
        {
            _current += 2;
            Expect(TokenKind.CloseStatement, "%} after 'else'");
            alternate.AddRange(ParseUntil(opener, "endif"));
        }
        return new IfNode(test, body, alternate, opener.Position);
    }

    private ForNode ParseFor(Token opener)
    {
        Node variable = ParseExpressionSequence(primary: true);
        if (variable is not (IdentifierNode or TupleNode))
        {
            throw Error(variable.Position, "the loop variable of 'for' must be a name or a tuple of names");
        }
        if (!IsIdentifier("in"))
        {
            throw Error(_current < _tokens.Count ? Peek().Position : EndPosition, "expected 'in' after the loop variable of 'for'");
        }
        _current++;
        Node iterable = ParseExpression();
        Expect(TokenKind.CloseStatement, "%} to close 'for'");
        List<Node> body = ParseUntil(opener, "else", "endfor");
        var otherwise = new List<Node>();
        if (IsStatement("else"))
        {
            _current += 2;
            Expect(TokenKind.CloseStatement, "%} after 'else'");
            otherwise.AddRange(ParseUntil(opener, "endfor"));
        }
        var loop = new ForNode(variable, iterable, body, otherwise, opener.Position);
        // Jinja2 refuses, when it reads the template, a for statement that assigns the name `loop` anywhere in it
        // (its own variable, a set in its body at any depth), which would hide the loop's own `loop`.
        IdentifierNode? assigned = NodeWalk.Walk(loop).SelectMany(NodeWalk.AssignedNames).Where(n => n.Name == "loop").MinBy(n => n.Position);
        return assigned is null ? loop : throw Error(assigned.Position, "'loop' cannot be assigned inside a for loop (Jinja2 keeps the name for the loop)");
    }

    private MacroNode ParseMacro(Token opener)
    {
        Token name = Expect(TokenKind.Identifier, "the macro's name");
        List<Node> parameters = ParseArguments(parameters: true);
        Expect(TokenKind.CloseStatement, "%} to close 'macro'");
        List<Node> body = ParseUntil(opener, "endmacro");
        return new MacroNode(name.Value, parameters, body, opener.Position);
    }

    private void Enter()
    {
        // The stack check is for a thread with a small stack, where even MaxDepth levels would overflow it (which
        // kills the process); on a default stack the level count refuses first.
        if (++_depth > MaxDepth || !RuntimeHelpers.TryEnsureSufficientExecutionStack())
        {
            _depth--;
            int at = _current < _tokens.Count ? _tokens[_current].Position : EndPosition;
            throw Error(at, _depth >= MaxDepth ? $"expressions or blocks nest deeper than {MaxDepth} levels"
                : $"expressions or blocks nest too deeply for this thread's stack ({_depth} levels)");
        }
    }
}
