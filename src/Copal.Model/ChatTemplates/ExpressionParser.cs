using System.Globalization;

namespace Copal.Model.ChatTemplates;

/// <summary>The parser's expressions, by precedence from the inline if down to literals (see <see cref="Parser"/>).</summary>
internal sealed partial class Parser
{
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
