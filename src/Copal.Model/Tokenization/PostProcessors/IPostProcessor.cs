namespace Copal.Model.Tokenization.PostProcessors;

/// <summary>The tokenizer.json "post_processor" section for a single sequence: adds special tokens around it.</summary>
internal interface IPostProcessor
{
    List<int> Process(List<int> ids);
}
