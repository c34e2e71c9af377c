using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// Compiles a JSON schema (draft 2020-12's vocabulary: the core of what OpenAI's strict mode takes) into
/// the tables <see cref="SchemaPrefix"/> reads. Every keyword is either implemented exactly, ignored because it is an
/// annotation (description, title, $schema, default, examples, …), or refused with a
/// <see cref="SchemaNotSupportedException"/> naming it and its place: a reply is never JSON the schema rejects.
/// </summary>
/// <remarks>
/// Work and size are linear in the schema: each location (a JSON pointer) compiles once, $ref included (so recursion
/// ends), each literal (enum and const values, keys) goes into a byte trie once; the fewest levels each node needs
/// settle within about 130 passes over the nodes (no value needs more than 64). Bounds, each refused past:
/// <see cref="MaxNodes"/> value nodes and as many container shapes, <see cref="LiteralTrie.Builder.MaxNodes"/> trie
/// nodes, counts (minItems, maxItems, minLength, maxLength) up to <see cref="MaxCount"/>, chains of $ref, anyOf and
/// oneOf up to <see cref="MaxChain"/>.
/// </remarks>
internal sealed class JsonSchemaCompiler
{
    /// <summary>The most value nodes (and, apart, container shapes) a schema may compile to.</summary>
    public const int MaxNodes = 65_535;

    /// <summary>
    /// The longest chain of $ref, anyOf and oneOf compiled within one another (they merge into one value node, so they
    /// are followed at once, on the stack; a deeper chain is refused rather than overflow it).
    /// </summary>
    public const int MaxChain = 256;

    /// <summary>The largest minItems, maxItems, minLength or maxLength taken.</summary>
    public const int MaxCount = 65_535;

    private const string AnyPath = "(any)";

    private static readonly HashSet<string> s_annotations =
        ["description", "title", "$schema", "default", "examples", "$comment", "deprecated", "readOnly", "writeOnly", "$defs", "definitions"];

    // OpenAPI's discriminator (Pydantic writes it beside a tagged union's oneOf): which property tells the branches
    // apart. Taken beside anyOf or oneOf, and held to: that property must be the one copal picks the branch by.
    private const string DiscriminatorKeyword = "discriminator";

    // The keywords implemented; anything else is refused.
    private static readonly HashSet<string> s_assertions =
        ["type", "enum", "const", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
         "minLength", "maxLength", "format", "anyOf", "oneOf", "allOf", "$ref", "uniqueItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"];

    private static readonly string[] s_bounds = ["minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"];

    // The keywords an anyOf or oneOf may have beside it, which apply to every branch (as .NET's JSON schema exporter
    // writes a polymorphic type: its type and the discriminator's required beside anyOf): each branch is compiled with
    // them merged in.
    private static readonly HashSet<string> s_besideBranches = ["type", "required", "properties", "additionalProperties"];

    private static readonly string[] s_typeKeywords =
        ["properties", "required", "additionalProperties", "items", "minItems", "maxItems", "minLength", "maxLength", "format", "uniqueItems", .. s_bounds];

    private const string Supported = "copal's structured outputs take type, properties, required, additionalProperties, items, minItems, maxItems, minLength, maxLength, format (date, date-time and uuid), minimum, maximum, exclusiveMinimum and exclusiveMaximum, enum, const, anyOf, oneOf, allOf of one schema and $ref (annotations such as description are ignored)";

    private readonly JsonElement _root;
    private readonly List<SchemaNode?> _nodes = [];
    private readonly List<SchemaShape> _shapes = [];
    private readonly LiteralTrie.Builder _literals = new();
    private readonly Dictionary<string, int> _nodeIds = [];
    private readonly Dictionary<string, SchemaClasses> _classes = [];
    private readonly Dictionary<string, int> _shapeIds = [];
    // Each object shape's schema and location, for telling object branches apart by a discriminator (Union).
    private readonly Dictionary<int, ObjectSource> _objectSchemas = [];
    private readonly HashSet<string> _inProgress = [];
    private readonly Queue<(int Id, JsonElement Schema, string Path)> _pending = new();

    private JsonSchemaCompiler(JsonElement root)
    {
        _root = root;
    }

    /// <summary>Compiles <paramref name="schema"/>, whose top level must allow an object (the reply is always one, as in JSON mode).</summary>
    /// <exception cref="SchemaNotSupportedException">A keyword or combination structured outputs cannot hold a reply to exactly.</exception>
    public static CompiledSchema Compile(JsonElement schema)
    {
        var compiler = new JsonSchemaCompiler(schema);
        return compiler.Run();
    }

    private CompiledSchema Run()
    {
        SchemaClasses root = Classes(_root, "#");
        if (root.Object < 0)
        {
            throw new SchemaNotSupportedException("type", "#", "the top-level schema must allow an object: the reply is a JSON object, as OpenAI's structured outputs require");
        }
        while (_pending.TryDequeue(out (int Id, JsonElement Schema, string Path) next))
        {
            _nodes[next.Id] = Node(next.Path == AnyPath ? AnyClasses() : Classes(next.Schema, next.Path));
        }
        SchemaNode[] nodes = [.. _nodes.Select(n => n!)];
        SchemaShape[] shapes = [.. _shapes];
        MinDepths(nodes, shapes);
        if (shapes[root.Object].MinDepth > SchemaPrefix.MaxDepth)
        {
            throw Unwritable(nodes, shapes, root.Object);
        }
        return new CompiledSchema(nodes, shapes, _literals.Build(), root.Object);
    }

    // Why a top level that admits no value does not: down the first required member (or minItems' item) that admits
    // none, to a value that admits nothing (a type beside anyOf that leaves no branch, an empty enum), required members
    // nested past the limit, or a cycle of them.
    private SchemaNotSupportedException Unwritable(SchemaNode[] nodes, SchemaShape[] shapes, int root)
    {
        Dictionary<int, string> paths = _nodeIds.ToDictionary(p => p.Value, p => p.Key);
        var seen = new HashSet<int>();
        string at = "#";
        for (int shape = root; seen.Add(shape);)
        {
            SchemaShape s = shapes[shape];
            if (s.Branches is int[] branches)
            {
                // Every branch admits none: the first tells why.
                shape = branches[0];
                continue;
            }
            string keyword = s.IsObject ? "required" : "minItems";
            int member = s.IsObject
                ? Enumerable.Range(0, s.Properties.Length).Where(j => s.Required[j] && nodes[s.Properties[j]].MinDepth > SchemaPrefix.MaxDepth).Select(j => s.Properties[j]).DefaultIfEmpty(-1).First()
                : s.Items >= 0 && nodes[s.Items].MinDepth > SchemaPrefix.MaxDepth ? s.Items : -1;
            if (member < 0)
            {
                return s.IsObject || s.Items >= 0
                    ? new SchemaNotSupportedException(keyword, at, $"its {(s.IsObject ? "required members" : "items")} nest more than {SchemaPrefix.MaxDepth} levels deep: no value fits")
                    : new SchemaNotSupportedException(keyword, at, "minItems asks for items, but items admits none");
            }
            string memberAt = paths.GetValueOrDefault(member, at);
            SchemaNode node = nodes[member];
            if (node.Object < 0 && node.Array < 0)
            {
                return new SchemaNotSupportedException(keyword, at, $"the {(s.IsObject ? "required property" : "items")} at {memberAt} admits no value (its type, enum, const or branches leave none)");
            }
            (shape, at) = (node.Object >= 0 ? node.Object : node.Array, memberAt);
        }
        return new SchemaNotSupportedException("$ref", at, "required members come back here in a cycle: no value ends");
    }

    // The fewest levels of nesting each node and shape opens, by relaxation from "unreachable": a shape needs one more
    // than its required members, a node the least of its choices.
    private static void MinDepths(SchemaNode[] nodes, SchemaShape[] shapes)
    {
        foreach (SchemaNode node in nodes)
        {
            if (node.AnyString || node.Number != NumberKind.None || node.Literals >= 0)
            {
                node.MinDepth = 0;
            }
        }
        for (bool changed = true; changed;)
        {
            changed = false;
            foreach (SchemaShape shape in shapes)
            {
                if (shape.Branches is int[] branches)
                {
                    // A union: the least of its branches (each counts the object itself).
                    int least = branches.Min(b => shapes[b].MinDepth);
                    if (least < shape.MinDepth)
                    {
                        shape.MinDepth = least;
                        changed = true;
                    }
                    continue;
                }
                int need = 0;
                if (shape.IsObject)
                {
                    for (int j = 0; j < shape.Properties.Length; j++)
                    {
                        if (shape.Required[j])
                        {
                            need = Math.Max(need, nodes[shape.Properties[j]].MinDepth);
                        }
                    }
                }
                else if (shape.MinItems > 0)
                {
                    need = shape.Items < 0 ? SchemaShape.Unreachable : nodes[shape.Items].MinDepth;
                }
                int depth = need + 1 > SchemaPrefix.MaxDepth ? SchemaShape.Unreachable : need + 1;
                if (depth < shape.MinDepth)
                {
                    shape.MinDepth = depth;
                    changed = true;
                }
            }
            foreach (SchemaNode node in nodes)
            {
                int depth = Math.Min(node.Object >= 0 ? shapes[node.Object].MinDepth : SchemaShape.Unreachable,
                    node.Array >= 0 ? shapes[node.Array].MinDepth : SchemaShape.Unreachable);
                if (depth < node.MinDepth)
                {
                    node.MinDepth = depth;
                    changed = true;
                }
            }
        }
    }

    private SchemaNode Node(SchemaClasses c) => new()
    {
        Object = c.Object,
        Array = c.Array,
        AnyString = c.AnyString,
        MinLength = c.MinLength,
        MaxLength = c.MaxLength,
        Format = c.Format,
        Number = c.Number,
        Range = c.Range,
        Literals = c.Literals.Count > 0 ? _literals.Add(c.Literals.Select(l => (l.Bytes, 0))) : -1,
    };

    // The value node of the schema at path: one per location, compiled later (so recursion through containers ends).
    private int NodeFor(JsonElement schema, string path)
    {
        if (_nodeIds.TryGetValue(path, out int id))
        {
            return id;
        }
        if (_nodes.Count == MaxNodes)
        {
            throw new SchemaNotSupportedException("$ref", path, $"the schema compiles to more than {MaxNodes} value nodes");
        }
        id = _nodes.Count;
        _nodes.Add(null);
        _nodeIds[path] = id;
        _pending.Enqueue((id, schema, path));
        return id;
    }

    private int AnyNode() => NodeFor(default, AnyPath);

    // A node made here rather than from a location of the schema (a union's discriminator).
    private int AddNode(SchemaNode node, string path)
    {
        if (_nodes.Count == MaxNodes)
        {
            throw new SchemaNotSupportedException("$ref", path, $"the schema compiles to more than {MaxNodes} value nodes");
        }
        _nodes.Add(node);
        return _nodes.Count - 1;
    }

    // Any JSON value: objects of any members, arrays of any items, any string, number, true, false, null.
    private SchemaClasses AnyClasses() => new()
    {
        Object = AddShape(AnyPath + "{}", () => new SchemaShape { IsObject = true, NextRequired = [0], Additional = AnyNode() }),
        Array = AddShape(AnyPath + "[]", () => new SchemaShape { Items = AnyNode() }),
        AnyString = true,
        Number = NumberKind.Number,
        Literals = [Keyword(LiteralKind.True), Keyword(LiteralKind.False), Keyword(LiteralKind.Null)],
    };

    private int AddShape(string path, Func<SchemaShape> build)
    {
        if (_shapeIds.TryGetValue(path, out int id))
        {
            return id;
        }
        if (_shapes.Count == MaxNodes)
        {
            throw new SchemaNotSupportedException("$ref", path, $"the schema compiles to more than {MaxNodes} objects and arrays");
        }
        id = _shapes.Count;
        _shapeIds[path] = id;
        _shapes.Add(null!);
        _shapes[id] = build();
        return id;
    }

    private static SchemaLiteral Keyword(LiteralKind kind)
    {
        string text = kind switch { LiteralKind.True => "true", LiteralKind.False => "false", _ => "null" };
        return new SchemaLiteral(Encoding.UTF8.GetBytes(text), kind, text);
    }

    /// <summary>The keywords beside an anyOf or oneOf (<see cref="s_besideBranches"/>) that its branches are compiled with.</summary>
    private sealed record Beside(JsonElement Schema, string Path, string Combinator);

    /// <summary>An object shape's schema and location, and the keywords beside the anyOf or oneOf it is a branch of.</summary>
    private sealed record ObjectSource(JsonElement Schema, string Path, Beside? Outer);

    private SchemaClasses Classes(JsonElement schema, string path, Beside? outer = null)
    {
        // "~2" never comes in a JSON pointer (which escapes "~" as "~0"): no location's key equals a branch's.
        string key = outer is null ? path : $"{path}~2{outer.Path}";
        if (_classes.TryGetValue(key, out SchemaClasses? done))
        {
            return done;
        }
        if (!_inProgress.Add(key))
        {
            throw new SchemaNotSupportedException("$ref", path, "a $ref, anyOf or oneOf cycle comes back here without an object or array in between: no value ends");
        }
        if (_inProgress.Count > MaxChain)
        {
            throw new SchemaNotSupportedException("$ref", path, $"$ref, anyOf and oneOf nest more than {MaxChain} deep here without an object or array in between");
        }
        SchemaClasses classes;
        try
        {
            classes = ClassesOf(schema, path, outer);
        }
        catch (InvalidOperationException) when (LoneSurrogate(schema) is string keyword)
        {
            // JSON may escape half a surrogate pair ("\ud800"), which no .NET string, and no UTF-8 reply, holds.
            throw new SchemaNotSupportedException(keyword, path, "a string or key here holds a lone surrogate escape (\\ud800 to \\udfff without its pair), which no UTF-8 text can hold");
        }
        _inProgress.Remove(key);
        _classes[key] = classes;
        return classes;
    }

    // The keyword of the schema whose value holds a string or key no .NET string can (a lone surrogate escape), or
    // "schema" where a keyword's own name does; null when none does.
    private static string? LoneSurrogate(JsonElement schema)
    {
        if (schema.ValueKind != JsonValueKind.Object)
        {
            return null;
        }
        foreach (JsonProperty p in schema.EnumerateObject())
        {
            if (!Readable(() => p.Name))
            {
                return "schema";
            }
            if (Unreadable(p.Value))
            {
                return p.Name;
            }
        }
        return null;
    }

    private static bool Unreadable(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => !Readable(() => value.GetString()!),
        JsonValueKind.Object => value.EnumerateObject().Any(p => !Readable(() => p.Name) || Unreadable(p.Value)),
        JsonValueKind.Array => value.EnumerateArray().Any(Unreadable),
        _ => false,
    };

    private static bool Readable(Func<string> read)
    {
        try
        {
            read();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    // The classes of the schema at path; a branch of an anyOf or oneOf with keywords beside it (outer) takes them too.
    private SchemaClasses ClassesOf(JsonElement schema, string path, Beside? outer)
    {
        if (schema.ValueKind == JsonValueKind.True)
        {
            return outer is null ? AnyClasses() : TypedClasses(outer.Schema, outer.Path, Types(outer.Schema, outer.Path), outer: null);
        }
        if (schema.ValueKind == JsonValueKind.False)
        {
            return SchemaClasses.None;
        }
        if (schema.ValueKind != JsonValueKind.Object)
        {
            throw new SchemaNotSupportedException("schema", path, $"a schema is an object or a boolean, got a JSON {schema.ValueKind.ToString().ToLowerInvariant()}");
        }
        var assertions = new List<string>();
        foreach (JsonProperty p in schema.EnumerateObject())
        {
            if (s_annotations.Contains(p.Name) || (p.Name == "$id" && path == "#"))
            {
                continue;
            }
            if (p.Name == DiscriminatorKeyword && (schema.TryGetProperty("anyOf", out _) || schema.TryGetProperty("oneOf", out _)))
            {
                continue; // read with the branches
            }
            if (!s_assertions.Contains(p.Name))
            {
                throw new SchemaNotSupportedException(p.Name, path, Supported);
            }
            assertions.Add(p.Name);
        }
        if (schema.TryGetProperty("uniqueItems", out JsonElement unique) && unique.ValueKind != JsonValueKind.False)
        {
            throw new SchemaNotSupportedException("uniqueItems", path, "only uniqueItems false (no constraint) is taken: copal cannot keep array items apart");
        }
        foreach (string combinator in (string[])["$ref", "allOf", "anyOf", "oneOf"])
        {
            bool single = combinator is "$ref" or "allOf";
            if (assertions.Contains(combinator)
                && assertions.FirstOrDefault(a => a != combinator && a != "uniqueItems" && (single || !s_besideBranches.Contains(a))) is string beside)
            {
                string taken = single ? "" : $" (beside it copal takes {string.Join(", ", s_besideBranches)}, which apply to every branch)";
                throw new SchemaNotSupportedException(combinator, path, $"{combinator} beside '{beside}' is not taken{taken}; put '{beside}' inside the {(single ? (combinator == "$ref" ? "referenced schema" : "allOf's schema") : "branches")}");
            }
        }
        if (schema.TryGetProperty("$ref", out JsonElement reference))
        {
            (JsonElement target, string targetPath) = Resolve(reference, path);
            return Classes(target, targetPath, outer);
        }
        // allOf of one schema is that schema (generators wrap a $ref so, to give it a description); of more, copal
        // would have to intersect them.
        if (schema.TryGetProperty("allOf", out JsonElement all))
        {
            if (all.ValueKind != JsonValueKind.Array || all.GetArrayLength() != 1)
            {
                throw new SchemaNotSupportedException("allOf", path, $"allOf is taken with one schema only (copal does not intersect schemas), got {(all.ValueKind == JsonValueKind.Array ? all.GetArrayLength() + " schemas" : Cut(all.GetRawText()))}");
            }
            return Classes(all[0], $"{path}/allOf/0", outer);
        }
        foreach (string combinator in (string[])["anyOf", "oneOf"])
        {
            if (schema.TryGetProperty(combinator, out JsonElement branches))
            {
                if (branches.ValueKind != JsonValueKind.Array || branches.GetArrayLength() == 0)
                {
                    throw new SchemaNotSupportedException(combinator, path, $"{combinator} must be a non-empty array of schemas");
                }
                if (outer is not null)
                {
                    throw new SchemaNotSupportedException(combinator, path, $"a {combinator} in a branch of the {outer.Combinator} at {outer.Path}, which has keywords beside it, is not taken; merge the branches into one {outer.Combinator}");
                }
                Beside? here = assertions.Any(s_besideBranches.Contains) ? new Beside(schema, path, combinator) : null;
                var each = new List<SchemaClasses>();
                int i = 0;
                foreach (JsonElement branch in branches.EnumerateArray())
                {
                    each.Add(Classes(branch, $"{path}/{combinator}/{i++}", here));
                }
                return Merge(each, exclusive: combinator == "oneOf", combinator, path, DiscriminatorOf(schema, path));
            }
        }
        string[] types = Types(schema, path);
        if (outer is not null)
        {
            // The types both allow; an integer is a number, so integer on one side and number on the other leave integers.
            string[] own = types, outerTypes = Types(outer.Schema, outer.Path);
            types = [.. own.Append("integer").Distinct().Where(t => Admits(own, t) && Admits(outerTypes, t))];
        }
        if (schema.TryGetProperty("enum", out _) || schema.TryGetProperty("const", out _))
        {
            return EnumClasses(schema, path, types);
        }
        return TypedClasses(schema, path, types, outer);
    }

    // A value of each of the types, under the schema's keywords for it (and, for an object, those beside its anyOf).
    private SchemaClasses TypedClasses(JsonElement schema, string path, string[] types, Beside? outer)
    {
        var parts = new List<SchemaClasses>();
        // Integers under the same bounds as numbers are among them: the number's range holds both (two ranges would be refused).
        foreach (string type in types.Where(t => t != "integer" || !types.Contains("number")))
        {
            parts.Add(type switch
            {
                "object" => new SchemaClasses { Object = ObjectShapeOf(new ObjectSource(schema, path, outer), first: null) },
                "array" => new SchemaClasses { Array = AddShape(path + "[]", () => ArrayShape(schema, path)) },
                "string" => StringClasses(schema, path),
                "number" => new SchemaClasses { Number = NumberKind.Number, Range = Bounds(schema, path, integer: false) },
                "integer" => new SchemaClasses { Number = NumberKind.Integer, Range = Bounds(schema, path, integer: true) },
                "boolean" => new SchemaClasses { Literals = [Keyword(LiteralKind.True), Keyword(LiteralKind.False)] },
                _ => new SchemaClasses { Literals = [Keyword(LiteralKind.Null)] },
            });
        }
        return Merge(parts, exclusive: false, "type", path);
    }

    private static readonly string[] s_allTypes = ["object", "array", "string", "number", "integer", "boolean", "null"];

    private static bool Admits(string[] types, string type) => types.Contains(type) || (type == "integer" && types.Contains("number"));

    private static string[] Types(JsonElement schema, string path)
    {
        if (!schema.TryGetProperty("type", out JsonElement type))
        {
            return s_allTypes;
        }
        string[] names = type.ValueKind switch
        {
            JsonValueKind.String => [type.GetString()!],
            JsonValueKind.Array when type.GetArrayLength() > 0 && type.EnumerateArray().All(t => t.ValueKind == JsonValueKind.String) =>
                [.. type.EnumerateArray().Select(t => t.GetString()!)],
            _ => throw new SchemaNotSupportedException("type", path, $"type must be a type's name or a non-empty array of them, got {type.GetRawText()}"),
        };
        foreach (string name in names)
        {
            if (!s_allTypes.Contains(name))
            {
                throw new SchemaNotSupportedException("type", path, $"type '{name}' is not a JSON Schema type (string, number, integer, boolean, null, object, array)");
            }
        }
        if (names.Distinct().Count() != names.Length)
        {
            throw new SchemaNotSupportedException("type", path, "type lists a type twice");
        }
        return names;
    }

    private static int Count(JsonElement schema, string keyword, string path, int absent)
    {
        if (!schema.TryGetProperty(keyword, out JsonElement value))
        {
            return absent;
        }
        // Read exactly: a decimal rounds 2.00000000000000000000000000000001 to 2, and 1e-400 to 0.
        if (value.ValueKind != JsonValueKind.Number || !ExactDecimal.TryParse(value.GetRawText(), out decimal d) || d != decimal.Truncate(d) || d < 0)
        {
            throw new SchemaNotSupportedException(keyword, path, $"{keyword} must be a non-negative integer, got {value.GetRawText()}");
        }
        if (d > MaxCount)
        {
            throw new SchemaNotSupportedException(keyword, path, $"{keyword} {d} is past the largest count taken, {MaxCount}");
        }
        return (int)d;
    }

    // minimum, maximum and their exclusive forms as one range (the tightest of each side); an integer's as the least
    // and greatest whole values they allow.
    private static NumberRange Bounds(JsonElement schema, string path, bool integer)
    {
        decimal? least = null, most = null;
        bool leastOut = false, mostOut = false;
        foreach (string bound in s_bounds)
        {
            if (!schema.TryGetProperty(bound, out JsonElement value))
            {
                continue;
            }
            if (value.ValueKind != JsonValueKind.Number)
            {
                throw new SchemaNotSupportedException(bound, path, $"{bound} must be a number, got {Cut(value.GetRawText())}");
            }
            if (!ExactDecimal.TryParse(value.GetRawText(), out decimal d))
            {
                throw new SchemaNotSupportedException(bound, path, $"{bound} {Cut(value.GetRawText())} is past the bounds copal holds to exactly (below 10^17 in size, at most 28 significant digits)");
            }
            if (Math.Abs(d) >= 100_000_000_000_000_000m)
            {
                throw new SchemaNotSupportedException(bound, path, $"{bound} {Cut(value.GetRawText())} is past the bounds copal holds to (below 10^17 in size)");
            }
            if (!integer && decimal.Round(d, NumberRange.Scale) != d)
            {
                throw new SchemaNotSupportedException(bound, path, $"{bound} {Cut(value.GetRawText())} has more than {NumberRange.Scale} decimals, which copal does not hold a number to");
            }
            bool lower = bound.EndsWith("inimum", StringComparison.Ordinal), exclusive = bound.StartsWith("exclusive", StringComparison.Ordinal);
            if (integer)
            {
                // The whole values allowed: a bound of 1.5 lets 2 be the least; an exclusive 3 lets 4.
                (d, exclusive) = (lower ? (exclusive ? decimal.Floor(d) + 1 : decimal.Ceiling(d)) : (exclusive ? decimal.Ceiling(d) - 1 : decimal.Floor(d)), false);
            }
            if (lower && (least is null || d > least || (d == least && exclusive)))
            {
                (least, leastOut) = (d, exclusive);
            }
            else if (!lower && (most is null || d < most || (d == most && exclusive)))
            {
                (most, mostOut) = (d, exclusive);
            }
        }
        if (least > most || (least == most && (leastOut || mostOut)))
        {
            throw new SchemaNotSupportedException("minimum", path, $"no {(integer ? "integer" : "number")} is {(leastOut ? "above" : "at least")} {least} and {(mostOut ? "below" : "at most")} {most}");
        }
        return new NumberRange(Scaled(least), leastOut, Scaled(most), mostOut);
    }

    private static Int128? Scaled(decimal? bound) => bound is decimal d ? (Int128)(d * 1_000_000m) : null;

    private static SchemaClasses StringClasses(JsonElement schema, string path)
    {
        int min = Count(schema, "minLength", path, 0);
        int max = Count(schema, "maxLength", path, -1);
        if (max >= 0 && min > max)
        {
            throw new SchemaNotSupportedException("minLength", path, $"minLength {min} is more than maxLength {max}: no string fits");
        }
        StringFormat format = StringFormat.None;
        if (schema.TryGetProperty("format", out JsonElement name))
        {
            format = (name.ValueKind == JsonValueKind.String ? StringFormats.Of(name.GetString()!) : null)
                ?? throw new SchemaNotSupportedException("format", path, $"format {Cut(name.GetRawText())} is not taken: copal holds strings to date, date-time and uuid");
            if (schema.TryGetProperty("minLength", out _) || schema.TryGetProperty("maxLength", out _))
            {
                throw new SchemaNotSupportedException("format", path, "format beside minLength or maxLength is not taken (a format fixes the length)");
            }
        }
        return new SchemaClasses { AnyString = true, MinLength = min, MaxLength = max, Format = format };
    }

    // The object shape of the schema at path, its properties in declared order (those beside its anyOf first) or, for
    // a union's branch, with its discriminator moved first.
    private int ObjectShapeOf(ObjectSource source, string? first)
    {
        // A branch's key starts with its discriminator's JSON text, where no location's key can start ("#" or "("),
        // and which ends where the path begins; "~2" never comes in a JSON pointer: no two keys of different shapes meet.
        string key = (first is null ? "" : Encoding.UTF8.GetString(Quote(first, source.Path))) + source.Path + (source.Outer is null ? "" : $"~2{source.Outer.Path}") + "{}";
        int id = AddShape(key, () => ObjectShape(source, first));
        _objectSchemas.TryAdd(id, source);
        return id;
    }

    private SchemaShape ObjectShape(ObjectSource source, string? first)
    {
        (JsonElement schema, string path, Beside? outer) = source;
        JsonElement? additional = schema.TryGetProperty("additionalProperties", out JsonElement a) ? a : null;
        bool closed = additional is { ValueKind: not JsonValueKind.True };
        var declared = new List<(string Name, JsonElement Schema, string Path)>();
        if (outer is not null)
        {
            if (outer.Schema.TryGetProperty("additionalProperties", out JsonElement outerAdditional) && outerAdditional.ValueKind != JsonValueKind.True)
            {
                throw new SchemaNotSupportedException("additionalProperties", outer.Path, $"additionalProperties beside {outer.Combinator} is not taken (it would judge the properties its branches declare too); put it inside the branches");
            }
            Declare(outer.Schema, outer.Path, declared);
            // A closed branch forbids the properties beside it that it does not declare itself; under a schema of its
            // further keys, they would be held to both schemas, which copal cannot merge.
            if (closed && declared.FirstOrDefault(d => !Declares(schema, d.Name)).Name is string foreign)
            {
                if (additional!.Value.ValueKind != JsonValueKind.False)
                {
                    throw new SchemaNotSupportedException("additionalProperties", path, $"property '{foreign}', declared beside the {outer.Combinator} at {outer.Path}, would be held to this branch's additionalProperties too; declare it in the branch");
                }
                declared.RemoveAll(d => !Declares(schema, d.Name));
            }
        }
        Declare(schema, path, declared);
        if (first is not null)
        {
            int at = declared.FindIndex(d => d.Name == first);
            var discriminator = declared[at];
            declared.RemoveAt(at);
            declared.Insert(0, discriminator);
        }
        List<string> names = [.. declared.Select(d => d.Name)];
        List<int> nodes = [.. declared.Select(d => NodeFor(d.Schema, PropertyPath(d.Path, d.Name)))];
        var required = new bool[names.Count];
        if (outer is not null)
        {
            Require(outer.Schema, outer.Path, names, required, $" (beside the {outer.Combinator}; branch {path} does not allow it)");
        }
        Require(schema, path, names, required, "");
        int members = additional switch
        {
            null => AnyNode(),
            { ValueKind: JsonValueKind.True } => AnyNode(),
            { ValueKind: JsonValueKind.False } => -1,
            JsonElement schemaOfMembers => NodeFor(schemaOfMembers, $"{path}/additionalProperties"),
        };
        if (names.Count > 0)
        {
            if (names.Count >= MaxCount - 1)
            {
                throw new SchemaNotSupportedException("properties", path, $"more than {MaxCount - 2} properties");
            }
            // Indices 0 .. count, and count + 1: after a further key, where no declared property comes any more.
            var next = new int[names.Count + 2];
            next[names.Count] = next[names.Count + 1] = names.Count;
            for (int j = names.Count - 1; j >= 0; j--)
            {
                next[j] = required[j] ? j : next[j + 1];
            }
            int keys = _literals.Add(names.Select((n, j) => (Quote(n, path), j)));
            return new SchemaShape { IsObject = true, Properties = [.. nodes], Required = required, NextRequired = next, Keys = keys, Additional = members };
        }
        return new SchemaShape { IsObject = true, NextRequired = [0], Additional = members };
    }

    // The properties the schema at path declares, after those already declared (beside its anyOf): a name there again
    // must have the same schema (both would apply), and a name twice in one schema is refused.
    private static void Declare(JsonElement schema, string path, List<(string Name, JsonElement Schema, string Path)> declared)
    {
        if (!schema.TryGetProperty("properties", out JsonElement properties))
        {
            return;
        }
        if (properties.ValueKind != JsonValueKind.Object)
        {
            throw new SchemaNotSupportedException("properties", path, $"properties must be an object, got {properties.ValueKind}");
        }
        foreach (JsonProperty p in properties.EnumerateObject())
        {
            int at = declared.FindIndex(d => d.Name == p.Name);
            if (at < 0)
            {
                declared.Add((p.Name, p.Value, path));
            }
            else if (declared[at].Path == path)
            {
                throw new SchemaNotSupportedException("properties", path, $"property '{p.Name}' is declared twice");
            }
            else if (!JsonElement.DeepEquals(declared[at].Schema, p.Value))
            {
                throw new SchemaNotSupportedException("properties", path, $"property '{p.Name}' is declared here and beside the branches at {declared[at].Path} with another schema: copal takes one schema per property; give it in one place");
            }
        }
    }

    private static bool Declares(JsonElement schema, string name) =>
        schema.TryGetProperty("properties", out JsonElement properties) && properties.ValueKind == JsonValueKind.Object && properties.TryGetProperty(name, out _);

    private static void Require(JsonElement schema, string path, List<string> names, bool[] required, string otherwise)
    {
        if (!schema.TryGetProperty("required", out JsonElement req))
        {
            return;
        }
        if (req.ValueKind != JsonValueKind.Array || req.EnumerateArray().Any(r => r.ValueKind != JsonValueKind.String))
        {
            throw new SchemaNotSupportedException("required", path, "required must be an array of property names");
        }
        foreach (JsonElement r in req.EnumerateArray())
        {
            int index = names.IndexOf(r.GetString()!);
            if (index < 0)
            {
                throw new SchemaNotSupportedException("required", path, $"'{r.GetString()}' is required but is not among the properties{otherwise}: copal writes declared properties only");
            }
            required[index] = true;
        }
    }

    private SchemaShape ArrayShape(JsonElement schema, string path)
    {
        int items = schema.TryGetProperty("items", out JsonElement i) switch
        {
            false => AnyNode(),
            true when i.ValueKind == JsonValueKind.True => AnyNode(),
            true when i.ValueKind == JsonValueKind.False => -1,
            true when i.ValueKind == JsonValueKind.Object => NodeFor(i, $"{path}/items"),
            _ => throw new SchemaNotSupportedException("items", path, "items must be one schema (tuples, prefixItems, are not taken)"),
        };
        int min = Count(schema, "minItems", path, 0);
        int max = Count(schema, "maxItems", path, -1);
        if (max >= 0 && min > max)
        {
            throw new SchemaNotSupportedException("minItems", path, $"minItems {min} is more than maxItems {max}: no array fits");
        }
        return new SchemaShape { Items = items, MinItems = min, MaxItems = max };
    }

    private static SchemaClasses EnumClasses(JsonElement schema, string path, string[] types)
    {
        if (schema.TryGetProperty("enum", out _) && schema.TryGetProperty("const", out _))
        {
            throw new SchemaNotSupportedException("const", path, "const beside enum is not taken; give one of them");
        }
        if (s_typeKeywords.FirstOrDefault(k => schema.TryGetProperty(k, out _)) is string beside)
        {
            throw new SchemaNotSupportedException(beside, path, $"'{beside}' beside enum or const is not taken: list the values that fit");
        }
        string keyword = schema.TryGetProperty("const", out JsonElement constant) ? "const" : "enum";
        IEnumerable<JsonElement> values;
        if (keyword == "const")
        {
            values = [constant];
        }
        else
        {
            JsonElement list = schema.GetProperty("enum");
            if (list.ValueKind != JsonValueKind.Array)
            {
                throw new SchemaNotSupportedException("enum", path, "enum must be an array of values");
            }
            values = list.EnumerateArray();
        }
        var literals = new List<SchemaLiteral>();
        var seen = new HashSet<string>();
        foreach (JsonElement value in values)
        {
            SchemaLiteral literal = value.ValueKind switch
            {
                JsonValueKind.String => new SchemaLiteral(Quote(value.GetString()!, path), LiteralKind.String, value.GetRawText()),
                JsonValueKind.Number => new SchemaLiteral(Encoding.UTF8.GetBytes(value.GetRawText()), LiteralKind.Number, value.GetRawText()),
                JsonValueKind.True => Keyword(LiteralKind.True),
                JsonValueKind.False => Keyword(LiteralKind.False),
                JsonValueKind.Null => Keyword(LiteralKind.Null),
                _ => throw new SchemaNotSupportedException(keyword, path, $"{keyword} value {Cut(value.GetRawText())} is an {value.ValueKind.ToString().ToLowerInvariant()}: copal takes strings, numbers, booleans and null"),
            };
            bool fits = literal.Kind switch
            {
                LiteralKind.String => types.Contains("string"),
                LiteralKind.Number => types.Contains("number") || (types.Contains("integer") && IsIntegral(literal.Text)),
                LiteralKind.Null => types.Contains("null"),
                _ => types.Contains("boolean"),
            };
            if (fits && seen.Add(Encoding.UTF8.GetString(literal.Bytes)))
            {
                literals.Add(literal);
            }
        }
        return new SchemaClasses { Literals = literals };
    }

    private static bool IsIntegral(string number) =>
        double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && Math.Floor(d) == d && !double.IsInfinity(d);

    private static string Cut(string text) => text.Length <= 40 ? text : text[..40] + "…";

    // Branches merge while each first byte still picks one branch (objects of several shapes: while a discriminator
    // tells them apart); oneOf's branches must also never share a value.
    private SchemaClasses Merge(List<SchemaClasses> parts, bool exclusive, string keyword, string path, string? discriminator = null)
    {
        int arr = -1, arrFrom = -1, strFrom = -1, numFrom = -1;
        var objects = new List<(int Shape, int From)>();
        bool anyString = false;
        StringFormat format = StringFormat.None;
        int minLength = 0, maxLength = -1;
        NumberKind number = NumberKind.None;
        NumberRange? integers = null, numbers = null;
        bool anyNumber = false;
        var literals = new List<SchemaLiteral>();
        var literalFrom = new Dictionary<string, int>();
        var numberFrom = new Dictionary<string, int>();
        for (int i = 0; i < parts.Count; i++)
        {
            SchemaClasses c = parts[i];
            if (c.Object >= 0)
            {
                int same = objects.FindIndex(o => o.Shape == c.Object);
                if (same >= 0 && exclusive)
                {
                    // The same shape twice (a $ref listed in two branches): every object it takes matches both.
                    throw Overlap(keyword, path, objects[same].From, i, "an object", "oneOf fails a value both branches take");
                }
                if (same < 0)
                {
                    objects.Add((c.Object, i));
                }
            }
            if (c.Array >= 0)
            {
                if (arr >= 0 && arr != c.Array)
                {
                    throw Overlap(keyword, path, arrFrom, i, "an array", "copal takes one array shape per value");
                }
                if (arr >= 0 && exclusive)
                {
                    throw Overlap(keyword, path, arrFrom, i, "an array", "oneOf fails a value both branches take");
                }
                (arr, arrFrom) = (c.Array, i);
            }
            if (c.AnyString)
            {
                if (anyString && (format != StringFormat.None || c.Format != StringFormat.None))
                {
                    throw Overlap(keyword, path, strFrom, i, "strings", "copal takes one string format per value");
                }
                format = c.Format;
                if (anyString)
                {
                    bool union = (maxLength < 0 || c.MinLength <= maxLength + 1) && (c.MaxLength < 0 || minLength <= c.MaxLength + 1);
                    if (exclusive || !union)
                    {
                        throw Overlap(keyword, path, strFrom, i, "strings", "copal takes one string length range per value");
                    }
                    (minLength, maxLength) = (Math.Min(minLength, c.MinLength), maxLength < 0 || c.MaxLength < 0 ? -1 : Math.Max(maxLength, c.MaxLength));
                }
                else
                {
                    (minLength, maxLength) = (c.MinLength, c.MaxLength);
                }
                (anyString, strFrom) = (true, i);
            }
            if (c.Number != NumberKind.None)
            {
                if (number != NumberKind.None && exclusive)
                {
                    throw Overlap(keyword, path, numFrom, i, "numbers", "an integer is a number too, so oneOf would match both");
                }
                if (c.Number == NumberKind.Integer)
                {
                    integers = integers is null ? c.Range : integers.Value.UnionOfIntegers(c.Range)
                        ?? throw Overlap(keyword, path, numFrom, i, "integers", "copal takes one integer range per value (a gap lies between these)");
                }
                else if (c.Range.IsAll)
                {
                    anyNumber = true;
                }
                else
                {
                    numbers = numbers is null ? c.Range : throw Overlap(keyword, path, numFrom, i, "numbers", "copal takes one range of numbers per value");
                }
                number = (NumberKind)Math.Max((int)number, (int)c.Number);
                numFrom = i;
            }
            foreach (SchemaLiteral literal in c.Literals)
            {
                // A number is one value however it is written (1, 1.0 and 1e0 are equal to JSON Schema).
                if (exclusive && literal.Kind == LiteralKind.Number)
                {
                    string value = NumberValue(literal.Text);
                    if (numberFrom.TryGetValue(value, out int first) && first != i)
                    {
                        throw Overlap(keyword, path, first, i, $"the value {Cut(literal.Text)}", "oneOf fails a value both branches take");
                    }
                    numberFrom.TryAdd(value, i);
                }
                string text = Encoding.UTF8.GetString(literal.Bytes);
                if (literalFrom.TryGetValue(text, out int from))
                {
                    if (exclusive && from != i)
                    {
                        throw Overlap(keyword, path, from, i, $"the value {Cut(literal.Text)}", "oneOf fails a value both branches take");
                    }
                    continue;
                }
                literalFrom[text] = i;
                literals.Add(literal);
            }
        }
        // A literal the free string or number also writes is dropped (its text starts the same way); one it would not is refused.
        var kept = new List<SchemaLiteral>();
        foreach (SchemaLiteral literal in literals)
        {
            bool covered = literal.Kind switch
            {
                LiteralKind.String when anyString => true,
                LiteralKind.Number when number != NumberKind.None => true,
                _ => false,
            };
            if (!covered)
            {
                kept.Add(literal);
                continue;
            }
            bool writes = literal.Kind == LiteralKind.String
                ? format == StringFormat.None && LengthFits(literal, minLength, maxLength)
                : RangeOf(number, integers, numbers, anyNumber, keyword, path, numFrom) is var range
                    && (number == NumberKind.Number || !literal.Text.AsSpan().ContainsAny(".eE"))
                    && (range.IsAll || (!literal.Text.AsSpan().ContainsAny("eE") && range.Contains(literal.Text)));
            if (exclusive || !writes)
            {
                throw Overlap(keyword, path, literal.Kind == LiteralKind.String ? strFrom : numFrom, literalFrom[Encoding.UTF8.GetString(literal.Bytes)],
                    literal.Kind == LiteralKind.String ? "strings" : "numbers", "copal takes either any " + (literal.Kind == LiteralKind.String ? "string" : "number") + " or listed ones per value");
            }
        }
        return new SchemaClasses
        {
            Object = objects.Count switch { 0 => -1, 1 => objects[0].Shape, _ => Union(objects, exclusive, keyword, path, discriminator) },
            Array = arr,
            AnyString = anyString,
            MinLength = minLength,
            MaxLength = maxLength,
            Format = format,
            Number = number,
            Range = RangeOf(number, integers, numbers, anyNumber, keyword, path, numFrom),
            Literals = kept,
        };
    }

    // Objects of several shapes: one union shape whose discriminator, a required property every branch has with
    // string values no two branches share (a const or an enum), picks the branch when written. It is written first
    // (the branches' other properties then in their declared order), so the bytes of its value pick the branch as a
    // first byte picks any other. anyOf and oneOf alike: no object matches two branches, once an object shape listed
    // twice (within a union and beside it) is one branch, which oneOf refuses.
    private int Union(List<(int Shape, int From)> objects, bool exclusive, string keyword, string path, string? named)
    {
        var branches = new List<(ObjectSource Source, int From)>();
        foreach ((int shape, int from) in objects)
        {
            int[] inner = _shapes[shape].Branches ?? [shape];
            foreach (int b in inner)
            {
                if (!_objectSchemas.TryGetValue(b, out ObjectSource? source))
                {
                    // An object of any members (true, or its anyOf's branches') has no discriminator.
                    throw Overlap(keyword, path, objects[0].From, from, "an object", NoDiscriminator);
                }
                int same = branches.FindIndex(x => x.Source.Path == source.Path && x.Source.Outer?.Path == source.Outer?.Path);
                if (same < 0)
                {
                    branches.Add((source, from));
                }
                else if (exclusive && branches[same].From != from)
                {
                    // oneOf [a, anyOf [a, b]]: every object a takes matches both branches.
                    throw Overlap(keyword, path, branches[same].From, from, "an object", "oneOf fails a value both branches take");
                }
            }
        }
        string name = Discriminator(branches, named) ?? throw (named is null
            ? Overlap(keyword, path, objects[0].From, objects[1].From, "an object", NoDiscriminator)
            : new SchemaNotSupportedException(DiscriminatorKeyword, path, $"the discriminator '{named}' does not tell the branches apart: {NoDiscriminator}"));
        var literals = new List<(byte[] Bytes, int Branch)>();
        var shapes = new int[branches.Count];
        for (int i = 0; i < branches.Count; i++)
        {
            (JsonElement property, string at) = Property(branches[i].Source, name)!.Value;
            foreach (SchemaLiteral literal in Classes(property, at).Literals)
            {
                literals.Add((literal.Bytes, i));
            }
            shapes[i] = ObjectShapeOf(branches[i].Source, first: name);
        }
        int discriminator = AddNode(new SchemaNode { Literals = _literals.Add(literals) }, path);
        return AddShape($"{path}/{keyword}{{}}", () => new SchemaShape
        {
            IsObject = true,
            Properties = [discriminator],
            Required = [true],
            NextRequired = [0, 1, 1],
            Keys = _literals.Add([(Quote(name, path), 0)]),
            Branches = shapes,
        });
    }

    private const string NoDiscriminator = "copal takes objects of several shapes only where a property tells them apart: one every branch declares and requires, with a const or enum of strings no two branches share";

    // The first property of the first branch, in declared order, that every branch declares and requires as a const
    // or an enum of strings (nothing else: no $ref, no other type), no two branches sharing a value; null if none.
    private string? Discriminator(List<(ObjectSource Source, int From)> branches, string? named)
    {
        ObjectSource first = branches[0].Source;
        IEnumerable<string> candidates = named is not null ? [named] : Names(first.Schema).Concat(first.Outer is null ? [] : Names(first.Outer.Schema)).Distinct();
        foreach (string candidate in candidates)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            bool tells = true;
            foreach ((ObjectSource source, _) in branches)
            {
                if (Property(source, candidate) is not (JsonElement property, string at)
                    || !(property.ValueKind == JsonValueKind.Object && (property.TryGetProperty("const", out _) || property.TryGetProperty("enum", out _))
                        && !property.TryGetProperty("$ref", out _) && !property.TryGetProperty("anyOf", out _) && !property.TryGetProperty("oneOf", out _))
                    || !(Requires(source.Schema, candidate) || (source.Outer is not null && Requires(source.Outer.Schema, candidate))))
                {
                    tells = false;
                    break;
                }
                IReadOnlyList<SchemaLiteral> values = Classes(property, at).Literals;
                if (values.Count == 0 || values.Any(v => v.Kind != LiteralKind.String || !seen.Add(Encoding.UTF8.GetString(v.Bytes))))
                {
                    tells = false;
                    break;
                }
            }
            if (tells)
            {
                return candidate;
            }
        }
        return null;
    }

    // The property OpenAPI's discriminator beside an anyOf or oneOf names (its mapping is not read: the branches' own
    // const or enum values say which value goes with which branch); null when none is given.
    private static string? DiscriminatorOf(JsonElement schema, string path)
    {
        if (!schema.TryGetProperty(DiscriminatorKeyword, out JsonElement d))
        {
            return null;
        }
        return d.ValueKind == JsonValueKind.Object && d.TryGetProperty("propertyName", out JsonElement name) && name.ValueKind == JsonValueKind.String
            ? name.GetString()
            : throw new SchemaNotSupportedException(DiscriminatorKeyword, path, $"discriminator must be an object with propertyName, the property that tells the branches apart, got {Cut(d.GetRawText())}");
    }

    private static IEnumerable<string> Names(JsonElement schema) =>
        schema.TryGetProperty("properties", out JsonElement properties) && properties.ValueKind == JsonValueKind.Object
            ? properties.EnumerateObject().Select(p => p.Name)
            : [];

    // A property's schema and location as an object branch takes it: declared in the branch, or beside its anyOf where
    // the branch is open to it.
    private static (JsonElement Schema, string Path)? Property(ObjectSource source, string name)
    {
        if (Declares(source.Schema, name))
        {
            return (source.Schema.GetProperty("properties").GetProperty(name), PropertyPath(source.Path, name));
        }
        bool closed = source.Schema.TryGetProperty("additionalProperties", out JsonElement a) && a.ValueKind != JsonValueKind.True;
        return source.Outer is not null && !closed && Declares(source.Outer.Schema, name)
            ? (source.Outer.Schema.GetProperty("properties").GetProperty(name), PropertyPath(source.Outer.Path, name))
            : null;
    }

    private static bool Requires(JsonElement schema, string name) =>
        schema.TryGetProperty("required", out JsonElement required) && required.ValueKind == JsonValueKind.Array
        && required.EnumerateArray().Any(r => r.ValueKind == JsonValueKind.String && r.GetString() == name);

    private static string PropertyPath(string path, string name) => $"{path}/properties/{Pointer(name)}";

    // The range of merged numbers: the integers' (merged), a number's (where it holds the integers), or none where a
    // number of any value takes them in; a bounded number beside integers outside it is refused (their union is no one range).
    private static NumberRange RangeOf(NumberKind kind, NumberRange? integers, NumberRange? numbers, bool anyNumber, string keyword, string path, int from) =>
        kind switch
        {
            NumberKind.Integer => integers ?? NumberRange.All,
            NumberKind.Number when anyNumber => NumberRange.All,
            // Integers the numbers' range holds add nothing to it; others would make two ranges.
            NumberKind.Number when integers is not null && numbers is not null => numbers.Value.HoldsIntegers(integers.Value) ? numbers.Value
                : throw Overlap(keyword, path, from, from, "integers and a range of numbers", "copal takes one range of numbers per value"),
            NumberKind.Number => numbers ?? NumberRange.All,
            _ => NumberRange.All,
        };

    // A number literal's value as one text (trailing zeros and the exponent gone; past decimal's range, a double's
    // round trip, where numbers too close to tell apart read as one: oneOf is then refused, never wrongly taken).
    private static string NumberValue(string number) =>
        decimal.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out decimal d)
            ? d.ToString("G29", CultureInfo.InvariantCulture)
            : double.Parse(number, NumberStyles.Float, CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture);

    private static bool LengthFits(SchemaLiteral literal, int min, int max)
    {
        using JsonDocument doc = JsonDocument.Parse(literal.Bytes);
        int length = doc.RootElement.GetString()!.EnumerateRunes().Count();
        return length >= min && (max < 0 || length <= max);
    }

    private static SchemaNotSupportedException Overlap(string keyword, string path, int a, int b, string what, string why) =>
        new(keyword, path, a == b || a < 0
            ? $"it allows {what} in ways that overlap: {why}"
            : $"branches {Math.Min(a, b)} and {Math.Max(a, b)} both allow {what}: {why}");

    // A $ref within this schema: "#" or a JSON pointer from it ("#/$defs/name", "#/definitions/name", …).
    private (JsonElement Target, string Path) Resolve(JsonElement reference, string path)
    {
        string? text = reference.ValueKind == JsonValueKind.String ? reference.GetString() : null;
        if (text is null || !(text == "#" || text.StartsWith("#/", StringComparison.Ordinal)) || text.Contains('%'))
        {
            throw new SchemaNotSupportedException("$ref", path, $"$ref {Cut(reference.GetRawText())} is not taken: copal takes references within the schema, \"#\" or a JSON pointer such as \"#/$defs/name\"");
        }
        JsonElement at = _root;
        var canonical = new StringBuilder("#");
        foreach (string raw in text.Length == 1 ? [] : text[2..].Split('/'))
        {
            string segment = raw.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
            if (at.ValueKind == JsonValueKind.Object && at.TryGetProperty(segment, out JsonElement child))
            {
                at = child;
            }
            else if (at.ValueKind == JsonValueKind.Array && int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out int index) && index < at.GetArrayLength())
            {
                at = at[index];
            }
            else
            {
                throw new SchemaNotSupportedException("$ref", path, $"$ref \"{Cut(text)}\" points nowhere in the schema");
            }
            canonical.Append('/').Append(Pointer(segment));
        }
        return (at, canonical.ToString());
    }

    private static string Pointer(string name) => name.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);

    /// <summary>
    /// A string's shortest JSON text, as a literal is written: the quote, the backslash and control characters escaped
    /// (\b \f \n \r \t, else \u00xx), every other character as its UTF-8 bytes.
    /// </summary>
    internal static byte[] Quote(string value, string path)
    {
        var text = new StringBuilder("\"");
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (char.IsSurrogate(c) && !(char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1])))
            {
                throw new SchemaNotSupportedException("enum", path, $"the string {Cut(value)} holds a lone surrogate, which no UTF-8 reply can write");
            }
            if (char.IsHighSurrogate(c))
            {
                text.Append(c).Append(value[++i]);
                continue;
            }
            text.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\b' => "\\b",
                '\f' => "\\f",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                < ' ' => FormattableString.Invariant($"\\u{(int)c:x4}"),
                _ => c.ToString(),
            });
        }
        text.Append('"');
        return Encoding.UTF8.GetBytes(text.ToString());
    }
}
