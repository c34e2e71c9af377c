namespace Copal.Model.Generation.Constraints;

/// <summary>OpenAI's JSON mode for one sequence: the reply is a JSON object (<see cref="JsonPrefix"/>).</summary>
internal sealed class JsonObjectConstraint(JsonVocabulary vocabulary)
    : PrefixConstraint<JsonPrefix>(vocabulary.Trie, vocabulary.StopIds, vocabulary.Masks, new JsonPrefix(), "JSON object", "JSON mode", "json_object");
