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
/// Work and size are linear in the schema, but for unions: each location (a JSON pointer) compiles once, $ref included
/// (so recursion ends), each literal (enum and const values, keys) goes into a byte trie once; a branch of a tagged
/// union is compiled again with its discriminator first, and a branch of an anyOf with keywords beside it again with
/// them merged in, once per union or anyOf it is met in (so unions nested k deep cost about k times their branches).
/// The fewest levels each node needs settle within about 130 passes over the nodes (no value needs more than 64).
/// Bounds, each refused past, hold the total:
/// <see cref="MaxNodes"/> value nodes and as many container shapes, <see cref="LiteralTrie.Builder.MaxNodes"/> trie
/// nodes, counts (minItems, maxItems, minLength, maxLength) up to <see cref="MaxCount"/>, chains of $ref, anyOf and
/// oneOf up to <see cref="MaxChain"/>.
/// </remarks>
internal sealed partial class JsonSchemaCompiler
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
         "minLength", "maxLength", "format", "pattern", "anyOf", "oneOf", "allOf", "$ref", "uniqueItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"];

    private static readonly string[] s_bounds = ["minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"];

    // The keywords an anyOf or oneOf may have beside it, which apply to every branch (as .NET's JSON schema exporter
    // writes a polymorphic type: its type and the discriminator's required beside anyOf): each branch is compiled with
    // them merged in.
    private static readonly HashSet<string> s_besideBranches = ["type", "required", "properties", "additionalProperties"];

    private static readonly string[] s_typeKeywords =
        ["properties", "required", "additionalProperties", "items", "minItems", "maxItems", "minLength", "maxLength", "format", "pattern", "uniqueItems", .. s_bounds];

    private const string Supported = "copal's structured outputs take type, properties, required, additionalProperties, items, minItems, maxItems, minLength, maxLength, format (date, date-time, uuid, uri, email, hostname, ipv4, ipv6, time and duration), pattern, minimum, maximum, exclusiveMinimum and exclusiveMaximum, enum, const, anyOf, oneOf, allOf of one schema and $ref (annotations such as description are ignored)";

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
                return new SchemaNotSupportedException(keyword, at, $"the {(s.IsObject ? "required property" : "items")} at {memberAt} admits no value (its type, enum, const, branches, format, pattern or lengths leave none)");
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
        Pattern = c.Pattern,
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

    private static string Cut(string text) => text.Length <= 40 ? text : text[..40] + "…";

    private static string PropertyPath(string path, string name) => $"{path}/properties/{Pointer(name)}";

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
