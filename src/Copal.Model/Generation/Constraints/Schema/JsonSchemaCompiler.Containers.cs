using System.Text;
using System.Text.Json;

namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>Object and array shapes: declared properties in order (those beside an anyOf merged in), required, further keys, items.</summary>
internal sealed partial class JsonSchemaCompiler
{
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
            // true, or {} (which takes anything too), judges nothing.
            if (outer.Schema.TryGetProperty("additionalProperties", out JsonElement outerAdditional)
                && outerAdditional.ValueKind != JsonValueKind.True && !(outerAdditional.ValueKind == JsonValueKind.Object && !outerAdditional.EnumerateObject().Any()))
            {
                throw new SchemaNotSupportedException("additionalProperties", outer.Path, $"additionalProperties beside {outer.Combinator} is not taken (it would judge the properties its branches declare too); put it inside the branches");
            }
            Declare(outer.Schema, outer.Path, declared);
            // A closed branch forbids the properties beside it that it does not declare itself; under a schema of its
            // further keys, they would be held to both schemas, which copal cannot merge.
            // As a set: asking the branch's properties object for each name beside would scan it for each.
            HashSet<string> own = closed ? [.. Names(schema)] : [];
            if (closed && declared.FirstOrDefault(d => !own.Contains(d.Name)).Name is string foreign)
            {
                if (additional!.Value.ValueKind != JsonValueKind.False)
                {
                    throw new SchemaNotSupportedException("additionalProperties", path, $"property '{foreign}', declared beside the {outer.Combinator} at {outer.Path}, would be held to this branch's additionalProperties too; declare it in the branch");
                }
                declared.RemoveAll(d => !own.Contains(d.Name));
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
        // Names found by a dictionary, and each read once (JsonProperty.Name decodes a new string on every read): a
        // search of the list for each name would make an object of n properties cost n² (65,533 of them a minute).
        var indexOf = new Dictionary<string, int>(declared.Count, StringComparer.Ordinal);
        for (int j = 0; j < declared.Count; j++)
        {
            indexOf[declared[j].Name] = j;
        }
        foreach (JsonProperty p in properties.EnumerateObject())
        {
            string name = p.Name;
            if (!indexOf.TryGetValue(name, out int at))
            {
                indexOf[name] = declared.Count;
                declared.Add((name, p.Value, path));
            }
            else if (declared[at].Path == path)
            {
                throw new SchemaNotSupportedException("properties", path, $"property '{name}' is declared twice");
            }
            else if (!JsonElement.DeepEquals(declared[at].Schema, p.Value))
            {
                throw new SchemaNotSupportedException("properties", path, $"property '{name}' is declared here and beside the branches at {declared[at].Path} with another schema: copal takes one schema per property; give it in one place");
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
        // By a dictionary, as Declare finds names: a search of the names for each required one costs n² on a big object.
        var indexOf = new Dictionary<string, int>(names.Count, StringComparer.Ordinal);
        for (int j = 0; j < names.Count; j++)
        {
            indexOf[names[j]] = j;
        }
        foreach (JsonElement r in req.EnumerateArray())
        {
            if (!indexOf.TryGetValue(r.GetString()!, out int index))
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
}
