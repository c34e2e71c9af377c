using System.Globalization;
using System.Runtime.CompilerServices;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// Builds the syntax tree with the grammar and operator precedence of @huggingface/jinja's parser (lowest first):
/// <c>a if c else b</c>, <c>or</c>, <c>and</c>, <c>not</c>, comparisons and <c>in</c>/<c>not in</c>, <c>+ - ~</c>,
/// <c>* / // %</c>, <c>**</c>, <c>is</c> tests, <c>|</c> filters, signs, then calls, members, slices and literals.
/// Statements: if/elif/else, for (with a loop filter and else), set (also to a namespace attribute, a tuple, or a block),
/// macro, call and filter blocks, break, continue. Everything else (include, extends, argument unpacking...) is refused
/// with its name and position.
/// </summary>
internal sealed class Parser
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
            {
                IfNode node = ParseIf(name);
                ExpectEnd("endif", name);
                return node;
            }
            case "for":
            {
                ForNode node = ParseFor(name);
                ExpectEnd("endfor", name);
                return node;
            }
            case "macro":
            {
                MacroNode node = ParseMacro(name);
                ExpectEnd("endmacro", name);
                return node;
            }
            case "break":
                Expect(TokenKind.CloseStatement, "%} after 'break'");
                return new BreakNode(name.Position);
            case "continue":
                Expect(TokenKind.CloseStatement, "%} after 'continue'");
                return new ContinueNode(name.Position);
            case "call":
            {
                CallBlockNode node = ParseCallBlock(name);
                ExpectEnd("endcall", name);
                return node;
            }
            case "filter":
            {
                FilterBlockNode node = ParseFilterBlock(name);
                ExpectEnd("endfilter", name);
                return node;
            }
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

    // closedBy: the token that ends a parenthesized tuple, which may follow a last comma as in Jinja2 ((1,), (1, 2,)).
    private Node ParseExpressionSequence(bool primary, TokenKind? closedBy = null)
    {
        int position = _current < _tokens.Count ? Peek().Position : EndPosition;
        var items = new List<Node> { primary ? ParsePrimary() : ParseExpression() };
        bool isTuple = Is(TokenKind.Comma);
        while (isTuple)
        {
            _current++;
            if (closedBy is TokenKind close && Is(close))
            {
                break;
            }
            items.Add(primary ? ParsePrimary() : ParseExpression());
            if (!Is(TokenKind.Comma))
            {
                break;
            }
        }
        return isTuple ? new TupleNode(items, position) : items[0];
    }

    private Node ParseExpression()
    {
        Enter();
        try
        {
            return ParseIfExpression();
        }
        finally
        {
            _depth--;
        }
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

    private Node ParseIfExpression()
    {
        Node a = ParseOr();
        if (IsIdentifier("if"))
        {
            int position = Peek().Position;
            _current++;
            Node test = ParseOr();
            if (IsIdentifier("else"))
            {
                _current++;
                Node otherwise = ParseIfExpression();
                return new TernaryNode(test, a, otherwise, position);
            }
            return new SelectNode(a, test, position);
        }
        return a;
    }

    private Node ParseOr()
    {
        Node left = ParseAnd();
        while (IsIdentifier("or"))
        {
            int position = Peek().Position;
            _current++;
            left = new BinaryNode("or", left, ParseAnd(), position);
        }
        return left;
    }

    private Node ParseAnd()
    {
        Node left = ParseNot();
        while (IsIdentifier("and"))
        {
            int position = Peek().Position;
            _current++;
            left = new BinaryNode("and", left, ParseNot(), position);
        }
        return left;
    }

    private Node ParseNot()
    {
        if (IsIdentifier("not"))
        {
            int position = Peek().Position;
            _current++;
            Enter();
            try
            {
                return new UnaryNode("not", ParseNot(), position);
            }
            finally
            {
                _depth--;
            }
        }
        return ParseComparison();
    }

    private Node ParseComparison()
    {
        Node first = ParseAdditive();
        var links = new List<(string, Node, int)>();
        while (true)
        {
            string op;
            int position = _current < _tokens.Count ? Peek().Position : EndPosition;
            if (IsIdentifiers("not", "in"))
            {
                op = "not in";
                _current += 2;
            }
            else if (IsIdentifier("in"))
            {
                op = "in";
                _current++;
            }
            else if (Is(TokenKind.ComparisonBinaryOperator))
            {
                op = Peek().Value;
                _current++;
            }
            else
            {
                break;
            }
            links.Add((op, ParseAdditive(), position));
        }
        // More than one comparison chains, as in Python (the reference compared left to right: (a < b) <= c).
        return links switch
        {
            [] => first,
            [(string op, Node right, int position)] => new BinaryNode(op, first, right, position),
            _ => new ComparisonChainNode(first, links, links[0].Item3),
        };
    }

    private Node ParseAdditive()
    {
        Node left = ParseMultiplicative();
        while (Is(TokenKind.AdditiveBinaryOperator))
        {
            Token op = Peek();
            _current++;
            left = new BinaryNode(op.Value, left, ParseMultiplicative(), op.Position);
        }
        return left;
    }

    private Node ParseMultiplicative()
    {
        Node left = ParsePower();
        while (Is(TokenKind.MultiplicativeBinaryOperator))
        {
            Token op = Peek();
            _current++;
            left = new BinaryNode(op.Value, left, ParsePower(), op.Position);
        }
        return left;
    }

    private Node ParsePower()
    {
        Node left = ParseTest();
        while (Is(TokenKind.ExponentiationBinaryOperator))
        {
            Token op = Peek();
            _current++;
            left = new BinaryNode(op.Value, left, ParseTest(), op.Position);
        }
        return left;
    }

    private Node ParseTest()
    {
        Node operand = ParseFilter();
        while (IsIdentifier("is"))
        {
            int position = Peek().Position;
            _current++;
            bool negate = IsIdentifier("not");
            if (negate)
            {
                _current++;
            }
            Token test = Expect(TokenKind.Identifier, "the name of a test after 'is'");
            Node? argument = null;
            if (Is(TokenKind.OpenParen))
            {
                List<Node> args = ParseArguments(parameters: false);
                if (args.Count > 1 || args.Any(a => a is KeywordArgumentNode))
                {
                    throw Error(test.Position, $"test '{test.Value}' takes one argument");
                }
                argument = args.Count == 1 ? args[0] : null;
            }
            else if (IsIdentifier("is"))
            {
                // Jinja2 reads a name after a test's as its argument, and refuses `is` there.
                throw Error(Peek().Position, "tests cannot be chained with 'is' (x is a is b)");
            }
            else if (StartsTestArgument())
            {
                // Jinja2's `x is divisibleby 3`: one primary expression, with its members and calls, is the argument.
                argument = ParseCallMember();
            }
            operand = new TestNode(operand, negate, test.Value, position, argument);
        }
        return operand;
    }

    // What Jinja2 reads as a test's argument without parentheses: a name (but else, or, and), a string, a number, a
    // list or a mapping; `x is defined if c` is so an error there too.
    private bool StartsTestArgument() => _current < _tokens.Count && Peek() switch
    {
        { Kind: TokenKind.Identifier, Value: "else" or "or" or "and" } => false,
        { Kind: TokenKind.Identifier or TokenKind.StringLiteral or TokenKind.NumericLiteral or TokenKind.OpenSquareBracket or TokenKind.OpenCurlyBracket } => true,
        _ => false,
    };

    private Node ParseFilter() => ParseFilters(ParseSign(), named: false);

    // The filters `| f | g(args)` applied to operand; named: the first filter's name comes without a '|' (a filter block).
    private Node ParseFilters(Node operand, bool named)
    {
        while (named || Is(TokenKind.Pipe))
        {
            _current += named ? 0 : 1;
            Token name = Expect(TokenKind.Identifier, named ? "the name of a filter after 'filter'" : "the name of a filter after '|'");
            named = false;
            List<Node>? args = null;
            if (Is(TokenKind.OpenParen))
            {
                args = ParseArguments(parameters: false);
                if (Is(TokenKind.Dot) || Is(TokenKind.OpenSquareBracket) || Is(TokenKind.OpenParen))
                {
                    throw Error(Peek().Position, $"member access or call on the filter '{name.Value}(...)' itself is not supported");
                }
            }
            operand = new FilterNode(operand, name.Value, args, name.Position);
        }
        return operand;
    }

    private Node ParseSign()
    {
        if (_current < _tokens.Count && Peek() is { Kind: TokenKind.UnaryOperator or TokenKind.AdditiveBinaryOperator, Value: "-" or "+" } op)
        {
            _current++;
            Enter();
            try
            {
                return new UnaryNode(op.Value, ParseSign(), op.Position);
            }
            finally
            {
                _depth--;
            }
        }
        return ParseCallMember();
    }

    private Node ParseCallMember()
    {
        Node member = ParseMember(ParsePrimary());
        return Is(TokenKind.OpenParen) ? ParseCall(member) : member;
    }

    private Node ParseCall(Node callee)
    {
        Node call = new CallNode(callee, ParseArguments(parameters: false), callee.Position);
        call = ParseMember(call);
        return Is(TokenKind.OpenParen) ? ParseCall(call) : call;
    }

    private List<Node> ParseArguments(bool parameters)
    {
        Expect(TokenKind.OpenParen, "( to open the argument list");
        var args = new List<Node>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        bool sawKeyword = false;
        while (!Is(TokenKind.CloseParen))
        {
            Token first = Peek();
            if (first.Kind == TokenKind.ExponentiationBinaryOperator || first is { Kind: TokenKind.MultiplicativeBinaryOperator, Value: "*" })
            {
                throw Error(first.Position, $"argument unpacking '{first.Value}' is not supported");
            }
            Node argument = ParseExpression();
            if (Is(TokenKind.Equals))
            {
                _current++;
                if (argument is not IdentifierNode id)
                {
                    throw Error(argument.Position, parameters ? "expected a parameter name before '='" : "expected a keyword name before '='");
                }
                argument = new KeywordArgumentNode(id.Name, ParseExpression(), id.Position);
            }
            if (parameters)
            {
                string name = argument switch
                {
                    IdentifierNode i => i.Name,
                    KeywordArgumentNode k => k.Name,
                    _ => throw Error(argument.Position, "expected a parameter name in the macro's parameter list"),
                };
                if (name is "varargs" or "kwargs")
                {
                    throw Error(argument.Position, $"macro parameter '{name}' is not supported");
                }
                if (!names.Add(name))
                {
                    throw Error(argument.Position, $"duplicate parameter '{name}'");
                }
            }
            if (argument is KeywordArgumentNode)
            {
                sawKeyword = true;
            }
            else if (sawKeyword)
            {
                throw Error(argument.Position, parameters ? "a parameter without a default follows one with a default"
                    : "a positional argument follows a keyword argument");
            }
            args.Add(argument);
            ExpectCommaOr(TokenKind.CloseParen, ")");
        }
        _current++;
        return args;
    }

    private Node ParseMember(Node target)
    {
        while (Is(TokenKind.Dot) || Is(TokenKind.OpenSquareBracket))
        {
            Token op = Peek();
            _current++;
            if (op.Kind == TokenKind.OpenSquareBracket)
            {
                Node property = ParseSubscript(op);
                Expect(TokenKind.CloseSquareBracket, "] to close the subscript");
                target = new MemberNode(target, property, true, op.Position);
            }
            else
            {
                Node property = ParsePrimary();
                if (property is not (IdentifierNode or IntegerLiteralNode))
                {
                    throw Error(property.Position, "expected a name or an integer after '.'");
                }
                target = new MemberNode(target, property, false, op.Position);
            }
        }
        return target;
    }

    private Node ParseSubscript(Token open)
    {
        var parts = new List<Node?>();
        bool isSlice = false;
        while (!Is(TokenKind.CloseSquareBracket))
        {
            if (_current >= _tokens.Count)
            {
                throw Error(open.Position, "'[' is never closed");
            }
            if (Is(TokenKind.Colon))
            {
                parts.Add(null);
                _current++;
                isSlice = true;
            }
            else
            {
                parts.Add(ParseExpression());
                if (Is(TokenKind.Colon))
                {
                    _current++;
                    isSlice = true;
                }
            }
        }
        if (parts.Count == 0)
        {
            throw Error(open.Position, "empty subscript []");
        }
        if (isSlice)
        {
            if (parts.Count > 3)
            {
                throw Error(open.Position, "a slice takes at most 3 parts");
            }
            return new SliceNode(parts[0], parts.Count > 1 ? parts[1] : null, parts.Count > 2 ? parts[2] : null, open.Position);
        }
        return parts[0]!;
    }

    private Node ParsePrimary()
    {
        Token t = Peek();
        _current++;
        switch (t.Kind)
        {
            case TokenKind.NumericLiteral:
            {
                double v = double.Parse(t.Value, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture);
                if (t.Value.AsSpan().IndexOfAny(".eE") >= 0)
                {
                    return new FloatLiteralNode(v, t.Position);
                }
                if (Math.Abs(v) > Values.MaxSafeInteger)
                {
                    throw Error(t.Position, $"integer literal {t.Value} is beyond 2^53");
                }
                return new IntegerLiteralNode((long)v, t.Position);
            }
            case TokenKind.StringLiteral:
            {
                string value = t.Value;
                while (Is(TokenKind.StringLiteral))
                {
                    value += Peek().Value;
                    _current++;
                }
                return new StringLiteralNode(value, t.Position);
            }
            case TokenKind.Identifier:
                return new IdentifierNode(t.Value, t.Position);
            case TokenKind.OpenParen:
            {
                if (Is(TokenKind.CloseParen))
                {
                    // The empty tuple, as Jinja2 reads it.
                    _current++;
                    return new TupleNode([], t.Position);
                }
                Node e = ParseExpressionSequence(primary: false, closedBy: TokenKind.CloseParen);
                Expect(TokenKind.CloseParen, ") to close '('");
                return e;
            }
            case TokenKind.OpenSquareBracket:
            {
                var items = new List<Node>();
                while (!Is(TokenKind.CloseSquareBracket))
                {
                    items.Add(ParseExpression());
                    ExpectCommaOr(TokenKind.CloseSquareBracket, "]");
                }
                _current++;
                return new ArrayLiteralNode(items, t.Position);
            }
            case TokenKind.OpenCurlyBracket:
            {
                var entries = new List<(Node, Node)>();
                while (!Is(TokenKind.CloseCurlyBracket))
                {
                    Node key = ParseExpression();
                    Expect(TokenKind.Colon, "':' between a key and its value");
                    entries.Add((key, ParseExpression()));
                    ExpectCommaOr(TokenKind.CloseCurlyBracket, "}");
                }
                _current++;
                return new ObjectLiteralNode(entries, t.Position);
            }
            default:
                throw Error(t.Position, $"unexpected {Describe(t)} in an expression");
        }
    }
}
