namespace Copal.Model.ChatTemplates;

/// <summary>
/// Whether a template reads a message's content as OpenAI's list of parts (<c>{"type": "text", "text": ...}</c>)
/// rather than as a string. Llama Guard 3 and the vision models' templates loop over <c>message['content']</c>
/// (often through <c>selectattr('type', 'equalto', 'text')</c>); handed a string, such a loop walks its characters and
/// the conversation comes out empty or refused. vLLM looks for the same loop to decide (its "openai" content format),
/// and Hugging Face's processors hand those templates lists. Read once, from the parsed template.
/// </summary>
internal static class ContentFormat
{
    /// <summary>
    /// True when a <c>for</c> loop iterates a message's <c>content</c> member (<c>message['content']</c>,
    /// <c>messages[0].content</c>, through filters or not, or a variable set from one) and the template never tests that
    /// content for a string. A template that tests <c>is string</c> (Gemma 3, Pixtral, Mistral's, Llama 4's, Llama 3.2
    /// Vision's) takes a string, and may write an assistant's or the system's content with <c>+</c>, which a list
    /// would fail; so it gets the string, as the reference renders were made.
    /// </summary>
    public static bool IteratesContentParts(TemplateBody body)
    {
        List<Node> nodes = [.. NodeWalk.Walk(body)];
        var names = new Names();
        // Names set from one another (loop_messages from messages, a message from it, parts from its content) in any
        // order: a few passes reach each.
        for (int pass = 0; pass < 4; pass++)
        {
            foreach (Node node in nodes)
            {
                switch (node)
                {
                    case ForNode { LoopVariable: IdentifierNode variable } f when names.IsMessageList(f.Iterable):
                        names.Messages.Add(variable.Name);
                        break;
                    case SetNode { Target: IdentifierNode name, Value: Node value }:
                        names.Learn(name.Name, value);
                        break;
                }
            }
        }
        bool loopsOverParts = nodes.OfType<ForNode>().Any(f => names.IsContent(f.Iterable));
        bool testsForString = nodes.OfType<TestNode>().Any(t => t.Name == "string" && names.IsContent(t.Operand));
        return loopsOverParts && !testsForString;
    }

    /// <summary>The template's names for the message list, a message, and a message's content.</summary>
    private sealed class Names
    {
        public HashSet<string> MessageLists { get; } = new(StringComparer.Ordinal) { "messages" };

        public HashSet<string> Messages { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Contents { get; } = new(StringComparer.Ordinal);

        public void Learn(string name, Node value)
        {
            if (IsMessageList(value))
            {
                MessageLists.Add(name);
            }
            else if (IsMessage(value))
            {
                Messages.Add(name);
            }
            else if (IsContent(value))
            {
                Contents.Add(name);
            }
        }

        /// <summary><c>messages</c>, a name set from it, a slice of one, through filters or not.</summary>
        public bool IsMessageList(Node node) => Unfiltered(node) switch
        {
            IdentifierNode name => MessageLists.Contains(name.Name),
            MemberNode { Property: SliceNode } m => IsMessageList(m.Target),
            _ => false,
        };

        /// <summary>A loop variable over the messages, a name set from one, or one message by its index.</summary>
        public bool IsMessage(Node node) => Unfiltered(node) switch
        {
            IdentifierNode name => Messages.Contains(name.Name),
            MemberNode { Property: not SliceNode, Computed: true } m => IsMessageList(m.Target),
            _ => false,
        };

        /// <summary>A message's <c>content</c> member, or a name set from one.</summary>
        public bool IsContent(Node node) => Unfiltered(node) switch
        {
            IdentifierNode name => Contents.Contains(name.Name),
            MemberNode { Computed: true, Property: StringLiteralNode { Value: "content" } } m => IsMessage(m.Target),
            MemberNode { Computed: false, Property: IdentifierNode { Name: "content" } } m => IsMessage(m.Target),
            _ => false,
        };
    }

    /// <summary>The value under its filters and a loop's condition (<c>for m in messages if m.role != 'system'</c>).</summary>
    private static Node Unfiltered(Node node) => node switch
    {
        FilterNode f => Unfiltered(f.Operand),
        SelectNode s => Unfiltered(s.Value),
        _ => node,
    };
}
