using System.Text;
using System.Text.Json;

namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>Objects of several shapes told apart by a discriminator: the union shape whose tag's value picks the branch.</summary>
internal sealed partial class JsonSchemaCompiler
{
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
}
