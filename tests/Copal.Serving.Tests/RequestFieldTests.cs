using System.Text.Json;

namespace Copal.Serving.Tests;

/// <summary>
/// Every field a request body may hold, of the wrong JSON type, out of range or missing: a 400 in OpenAI's shape
/// whose param names the field and whose message is copal's own one line, never a 500 or a silent default.
/// </summary>
public sealed class RequestFieldTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private const string Completions = "/v1/completions";
    private const string Chat = "/v1/chat/completions";
    private const string Prompt = "\"model\":\"stories260K\",\"prompt\":\"Once\"";
    private const string User = "\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]";

    private async Task<(int Status, JsonElement Body)> PostAsync(string path, string body)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await http.PostAsync(new Uri(server.Server.Address, path), content);
        return ((int)response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private static void AssertError(JsonElement body, string param, string? code)
    {
        JsonElement error = body.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal(code, error.GetProperty("code").GetString());
        string message = error.GetProperty("message").GetString()!;
        Assert.Contains(param, message);
        Assert.DoesNotContain('\n', message);
        foreach (string dotnet in new[] { "internal error", "element of type", "JsonElement", "System.", "Exception" })
        {
            Assert.DoesNotContain(dotnet, message);
        }
    }

    [Theory]
    [InlineData(Completions, Prompt + ",\"max_tokens\":\"5\"", "max_tokens")]
    [InlineData(Completions, Prompt + ",\"max_tokens\":true", "max_tokens")]
    [InlineData(Completions, Prompt + ",\"max_tokens\":1.5", "max_tokens")]
    [InlineData(Completions, Prompt + ",\"max_tokens\":10000000000", "max_tokens")]
    [InlineData(Completions, Prompt + ",\"max_tokens\":[5]", "max_tokens")]
    [InlineData(Completions, Prompt + ",\"stream_options\":{\"include_usage\":true}", "stream_options")] // without stream
    [InlineData(Completions, Prompt + ",\"stream\":false,\"stream_options\":{}", "stream_options")]
    [InlineData(Completions, Prompt + ",\"seed\":\"1\"", "seed")]
    [InlineData(Completions, Prompt + ",\"seed\":18446744073709551615", "seed")]
    [InlineData(Completions, Prompt + ",\"seed\":{}", "seed")]
    [InlineData(Completions, Prompt + ",\"n\":\"2\"", "n")]
    [InlineData(Completions, Prompt + ",\"n\":0", "n")]
    [InlineData(Chat, User + ",\"n\":129", "n")]
    [InlineData(Chat, User + ",\"n\":\"3\"", "n")]
    [InlineData(Completions, Prompt + ",\"echo\":\"no\"", "echo")]
    [InlineData(Completions, Prompt + ",\"echo\":0", "echo")]
    [InlineData(Completions, Prompt + ",\"stream\":\"yes\"", "stream")]
    [InlineData(Completions, Prompt + ",\"stream_options\":\"usage\"", "stream_options")]
    [InlineData(Completions, Prompt + ",\"stream_options\":{\"include_usage\":\"yes\"}", "stream_options.include_usage")]
    [InlineData(Completions, Prompt + ",\"temperature\":\"1\"", "temperature")]
    [InlineData(Completions, Prompt + ",\"presence_penalty\":\"0\"", "presence_penalty")]
    [InlineData(Completions, Prompt + ",\"suffix\":5", "suffix")]
    [InlineData(Completions, Prompt + ",\"user\":5", "user")]
    [InlineData(Chat, User + ",\"service_tier\":5", "service_tier")]
    [InlineData(Completions, Prompt + ",\"safety_identifier\":{}", "safety_identifier")]
    [InlineData(Chat, User + ",\"prompt_cache_key\":[\"k\"]", "prompt_cache_key")]
    [InlineData(Completions, Prompt + ",\"metadata\":\"x\"", "metadata")]
    [InlineData(Completions, Prompt + ",\"metadata\":{\"k\":1}", "metadata")]
    [InlineData(Chat, User + ",\"metadata\":{\"k\":\"v\",\"nested\":{\"a\":\"b\"}}", "metadata")]
    [InlineData(Chat, User + ",\"store\":\"no\"", "store")]
    [InlineData(Chat, User + ",\"parallel_tool_calls\":1", "parallel_tool_calls")]
    [InlineData(Completions, Prompt + ",\"logprobs\":\"2\"", "logprobs")]
    [InlineData(Completions, Prompt + ",\"stop\":5", "stop")]
    [InlineData(Completions, "\"model\":5,\"prompt\":\"Once\"", "model")]
    [InlineData(Completions, "\"model\":\"stories260K\",\"prompt\":{}", "prompt")]
    [InlineData(Completions, "\"model\":\"stories260K\",\"prompt\":null", "prompt")]
    [InlineData(Chat, User + ",\"max_completion_tokens\":\"5\"", "max_completion_tokens")]
    [InlineData(Chat, User + ",\"max_tokens\":\"5\"", "max_tokens")]
    [InlineData(Chat, User + ",\"max_tokens\":false", "max_tokens")]
    [InlineData(Chat, User + ",\"max_completion_tokens\":5,\"max_tokens\":\"5\"", "max_tokens")]
    [InlineData(Chat, User + ",\"max_completion_tokens\":5,\"max_tokens\":6", "max_tokens")]
    [InlineData(Chat, User + ",\"seed\":\"1\"", "seed")]
    [InlineData(Chat, User + ",\"tools\":\"none\"", "tools")]
    [InlineData(Chat, User + ",\"response_format\":\"json\"", "response_format")]
    [InlineData(Chat, User + ",\"response_format\":{\"type\":5}", "response_format")]
    [InlineData(Chat, User + ",\"response_format\":{}", "response_format")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\"}]", "messages[0].content")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":null}]", "messages[0].content")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[{\"role\":\"system\",\"content\":null},{\"role\":\"user\",\"content\":\"Hi\"}]", "messages[0].content")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":null}]", "messages[1].content")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":5}]", "messages[0].content")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":5}]}]", "messages[0].content[0]")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":[\"Hi\"]}]", "messages[0].content[0]")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":5}]}]", "messages[0].content[0].text")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]", "messages[0].content[0].text")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"name\":5,\"content\":\"Hi\"}]", "messages[0].name")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Yo\",\"reasoning_content\":[]}]", "messages[1].reasoning_content")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Yo\",\"reasoning\":true}]", "messages[1].reasoning")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Yo\",\"reasoning_content\":\"ok\",\"reasoning\":5}]", "messages[1].reasoning")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\",\"reasoning_content\":5}]", "messages[0].reasoning_content")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[{\"role\":5,\"content\":\"Hi\"}]", "messages[0].role")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[{\"content\":\"Hi\"}]", "messages[0].role")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[{\"role\":\"narrator\",\"content\":\"Hi\"}]", "messages[0].role")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":\"Hi\"", "messages")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"messages\":[]", "messages")]
    [InlineData(Chat, User + ",\"tool_choice\":\"required\"", "tool_choice")]
    [InlineData(Chat, User + ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}", "tool_choice")]
    public async Task A_field_of_the_wrong_type_or_out_of_range_is_a_400_naming_it(string path, string fields, string param)
    {
        var (status, body) = await PostAsync(path, "{" + fields + "}");
        Assert.Equal(400, status);
        AssertError(body, param, null);
    }

    [Theory]
    [InlineData("\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}]", "messages[1].tool_calls")]
    [InlineData("\"model\":\"stories260K\",\"messages\":[{\"role\":\"tool\",\"content\":\"42\",\"tool_call_id\":\"a\"}]", "messages[0].role")]
    [InlineData("\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]", "messages[0].content[0]")]
    public async Task A_message_copal_cannot_render_is_an_unsupported_parameter(string fields, string param)
    {
        var (status, body) = await PostAsync(Chat, "{" + fields + "}");
        Assert.Equal(400, status);
        AssertError(body, param, "unsupported_parameter");
    }

    [Theory]
    [InlineData(Completions, Prompt + ",\"max_tokens\":2,\"seed\":null,\"n\":null,\"echo\":false,\"logprobs\":null,\"suffix\":null,\"stream\":null,\"stop\":null,\"temperature\":null")]
    [InlineData(Completions, Prompt + ",\"max_tokens\":2,\"n\":1,\"logprobs\":false,\"stream_options\":null")]
    [InlineData(Completions, Prompt + ",\"max_tokens\":2,\"suffix\":\"\",\"user\":\"u-1\",\"metadata\":{\"k\":\"v\"},\"store\":false,\"service_tier\":\"auto\"")]
    [InlineData(Completions, Prompt + ",\"max_tokens\":2,\"min_p\":0,\"typical_p\":1,\"repeat_penalty\":1,\"ignore_eos\":false,\"stop_token_ids\":[],\"min_tokens\":0,\"n_predict\":null")]
    [InlineData(Completions, Prompt + ",\"max_tokens\":2,\"grammar\":\"\"")] // llama.cpp's default: no grammar
    [InlineData(Completions, Prompt + ",\"max_tokens\":2,\"dry_multiplier\":0,\"xtc_probability\":0,\"dynatemp_range\":0,\"top_n_sigma\":-1")]
    [InlineData(Completions, Prompt + ",\"max_tokens\":2,\"use_beam_search\":false,\"length_penalty\":1,\"bad_words\":[],\"return_tokens_as_token_ids\":false,\"prompt_logprobs\":null")]
    [InlineData(Chat, User + ",\"max_tokens\":2,\"add_generation_prompt\":true,\"continue_final_message\":false,\"documents\":[],\"echo\":false,\"chat_template\":null")]
    [InlineData(Chat, User + ",\"max_tokens\":2,\"max_completion_tokens\":null,\"tools\":[],\"response_format\":{\"type\":\"text\"}")]
    [InlineData(Chat, User + ",\"max_completion_tokens\":2,\"max_tokens\":2")]
    [InlineData(Completions, Prompt + ",\"max_tokens\":2,\"logprobs\":0")]
    [InlineData(Completions, Prompt + ",\"max_tokens\":2,\"logprobs\":20")]
    [InlineData(Chat, User + ",\"max_tokens\":2,\"logprobs\":true")]
    [InlineData(Chat, User + ",\"max_tokens\":2,\"logprobs\":true,\"top_logprobs\":20")]
    [InlineData(Chat, "\"model\":\"stories260K\",\"max_tokens\":2,\"messages\":[{\"role\":\"developer\",\"content\":[]},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}]},{\"role\":\"assistant\",\"content\":\"Hello\",\"tool_calls\":[]},{\"role\":\"user\",\"content\":\"\"}]")]
    public async Task Fields_given_as_null_or_in_their_other_valid_forms_are_accepted(string path, string fields)
    {
        var (status, body) = await PostAsync(path, "{" + fields + "}");
        Assert.True(status == 200, body.ToString());
        Assert.Equal(2, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Theory]
    [InlineData(Completions, Prompt + ",\"best_of\":3", "best_of")]
    // Chat's name for the bound: /v1/completions ignored it and answered its default 16 tokens.
    [InlineData(Completions, Prompt + ",\"max_completion_tokens\":40", "max_completion_tokens")]
    [InlineData(Completions, Prompt + ",\"n\":2,\"best_of\":3", "best_of")]
    // Fewer candidates than choices: OpenAI refuses it too (best_of must be at least n).
    [InlineData(Completions, Prompt + ",\"n\":2,\"best_of\":1", "best_of")]
    [InlineData(Chat, User + ",\"functions\":[{\"name\":\"f\",\"parameters\":{}}]", "functions")]
    [InlineData(Chat, User + ",\"function_call\":{\"name\":\"f\"}", "function_call")]
    [InlineData(Chat, User + ",\"modalities\":[\"text\",\"audio\"]", "modalities")]
    [InlineData(Chat, User + ",\"audio\":{\"voice\":\"alloy\",\"format\":\"wav\"}", "audio")]
    [InlineData(Chat, User + ",\"web_search_options\":{}", "web_search_options")]
    [InlineData(Chat, User + ",\"typical_p\":0.5", "typical_p")]
    [InlineData(Completions, Prompt + ",\"repeat_penalty\":1.3", "repeat_penalty")]
    [InlineData(Chat, User + ",\"n_predict\":3", "n_predict")]
    [InlineData(Completions, Prompt + ",\"ignore_eos\":true", "ignore_eos")]
    [InlineData(Completions, Prompt + ",\"stop_token_ids\":[2]", "stop_token_ids")]
    [InlineData(Chat, User + ",\"min_tokens\":10", "min_tokens")]
    [InlineData(Chat, User + ",\"include_stop_str_in_output\":true", "include_stop_str_in_output")]
    [InlineData(Completions, Prompt + ",\"skip_special_tokens\":false", "skip_special_tokens")]
    [InlineData(Chat, User + ",\"skip_special_tokens\":false", "skip_special_tokens")]
    [InlineData(Completions, Prompt + ",\"guided_json\":{\"type\":\"object\"}", "guided_json")]
    [InlineData(Chat, User + ",\"structured_outputs\":{\"json\":{\"type\":\"object\"}}", "structured_outputs")]
    [InlineData(Completions, Prompt + ",\"json_schema\":{\"type\":\"object\"}", "json_schema")]
    [InlineData(Completions, Prompt + ",\"guided_regex\":\"a+\"", "guided_regex")]
    [InlineData(Chat, User + ",\"guided_choice\":[\"yes\",\"no\"]", "guided_choice")]
    [InlineData(Completions, Prompt + ",\"guided_grammar\":\"root ::= \\\"a\\\"\"", "guided_grammar")]
    [InlineData(Completions, Prompt + ",\"grammar\":\"root ::= \\\"a\\\"\"", "grammar")]
    [InlineData(Completions, Prompt + ",\"response_format\":{\"type\":\"json_object\",\"schema\":{\"type\":\"object\",\"required\":[\"a\"]}}", "response_format")]
    // vLLM's sampling and prompt fields that change the reply, which copal does not implement: ignored, a client would
    // get a reply other than the one it asked for (no beam search, a banned word written, a prompt left whole).
    // llama.cpp's samplers beside those above: DRY, XTC, dynamic temperature, top-nσ.
    [InlineData(Completions, Prompt + ",\"dry_multiplier\":0.8", "dry_multiplier")]
    [InlineData(Chat, User + ",\"xtc_probability\":0.5", "xtc_probability")]
    [InlineData(Completions, Prompt + ",\"dynatemp_range\":0.5", "dynatemp_range")]
    [InlineData(Chat, User + ",\"top_n_sigma\":1", "top_n_sigma")]
    [InlineData(Completions, Prompt + ",\"use_beam_search\":true", "use_beam_search")]
    [InlineData(Chat, User + ",\"length_penalty\":2", "length_penalty")]
    [InlineData(Completions, Prompt + ",\"allowed_token_ids\":[5]", "allowed_token_ids")]
    [InlineData(Chat, User + ",\"bad_words\":[\"the\"]", "bad_words")]
    [InlineData(Completions, Prompt + ",\"truncate_prompt_tokens\":3", "truncate_prompt_tokens")]
    [InlineData(Completions, Prompt + ",\"prompt_logprobs\":1", "prompt_logprobs")]
    [InlineData(Chat, User + ",\"return_tokens_as_token_ids\":true", "return_tokens_as_token_ids")]
    // vLLM's chat fields that change the prompt: without them an assistant prefill is answered as a new turn.
    [InlineData(Chat, User + ",\"add_generation_prompt\":false", "add_generation_prompt")]
    [InlineData(Chat, User + ",\"continue_final_message\":true", "continue_final_message")]
    [InlineData(Chat, User + ",\"chat_template\":\"{{ messages[0].content }}\"", "chat_template")]
    [InlineData(Chat, User + ",\"documents\":[{\"title\":\"a\",\"text\":\"b\"}]", "documents")]
    [InlineData(Chat, User + ",\"echo\":true", "echo")]
    public async Task A_field_that_would_change_the_result_but_is_not_implemented_is_refused_naming_it(string path, string fields, string param)
    {
        var (status, body) = await PostAsync(path, "{" + fields + "}");
        Assert.Equal(400, status);
        AssertError(body, param, "unsupported_parameter");
    }

    [Theory]
    [InlineData(Chat, User + ",\"logprobs\":false,\"top_logprobs\":3", "top_logprobs")]
    [InlineData(Completions, Prompt + ",\"logprobs\":true", "logprobs")]
    [InlineData(Completions, Prompt + ",\"logprobs\":21", "logprobs")]
    [InlineData(Completions, Prompt + ",\"logprobs\":-1", "logprobs")]
    [InlineData(Chat, User + ",\"logprobs\":2", "logprobs")]
    [InlineData(Chat, User + ",\"top_logprobs\":0", "top_logprobs")]
    [InlineData(Chat, User + ",\"logprobs\":true,\"top_logprobs\":21", "top_logprobs")]
    [InlineData(Chat, User + ",\"top_logprobs\":\"3\"", "top_logprobs")]
    [InlineData(Completions, Prompt + ",\"logit_bias\":[]", "logit_bias")]
    [InlineData(Completions, Prompt + ",\"logit_bias\":{\"a\":1}", "logit_bias")]
    [InlineData(Completions, Prompt + ",\"logit_bias\":{\"-1\":1}", "logit_bias")]
    [InlineData(Completions, Prompt + ",\"logit_bias\":{\"+5\":1}", "logit_bias")] // a token id is digits alone
    [InlineData(Chat, User + ",\"logit_bias\":{\" 5\":1}", "logit_bias")]
    [InlineData(Chat, User + ",\"logit_bias\":{\"5\":101}", "logit_bias")]
    [InlineData(Chat, User + ",\"logit_bias\":{\"5\":\"1\"}", "logit_bias")]
    [InlineData(Completions, Prompt + ",\"logit_bias\":{\"512\":1}", "logit_bias")] // stories260K has 512 tokens
    [InlineData(Completions, Prompt + ",\"logit_bias\":{\"5\":1,\"05\":2}", "logit_bias")]
    [InlineData(Completions, Prompt + ",\"presence_penalty\":2.5", "presence_penalty")]
    [InlineData(Chat, User + ",\"frequency_penalty\":-3", "frequency_penalty")]
    [InlineData(Chat, User + ",\"frequency_penalty\":\"1\"", "frequency_penalty")]
    [InlineData(Completions, Prompt + ",\"min_p\":1.5", "min_p")]
    [InlineData(Chat, User + ",\"min_p\":\"0.1\"", "min_p")]
    [InlineData(Completions, Prompt + ",\"best_of\":0", "best_of")]
    [InlineData(Completions, Prompt + ",\"best_of\":\"1\"", "best_of")]
    [InlineData(Completions, Prompt + ",\"top_k\":\"5\"", "top_k")]
    [InlineData(Completions, Prompt + ",\"top_k\":-2", "top_k")]
    [InlineData(Completions, Prompt + ",\"top_k\":2.5", "top_k")]
    [InlineData(Chat, User + ",\"repetition_penalty\":0", "repetition_penalty")]
    [InlineData(Chat, User + ",\"repetition_penalty\":-1", "repetition_penalty")]
    [InlineData(Chat, User + ",\"repetition_penalty\":1e-50", "repetition_penalty")]
    [InlineData(Chat, User + ",\"repetition_penalty\":1e39", "repetition_penalty")]
    [InlineData(Chat, User + ",\"repetition_penalty\":\"1.5\"", "repetition_penalty")]
    [InlineData(Chat, User + ",\"tool_choice\":5", "tool_choice")]
    [InlineData(Chat, User + ",\"modalities\":\"text\"", "modalities")]
    [InlineData(Chat, User + ",\"functions\":{}", "functions")]
    // Just past OpenAI's bounds: min_p in [0, 1], penalties in [-2, 2], at most 4 stop texts (and none empty).
    [InlineData(Completions, Prompt + ",\"min_p\":-0.5", "min_p")]
    [InlineData(Chat, User + ",\"presence_penalty\":-2.5", "presence_penalty")]
    [InlineData(Completions, Prompt + ",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", "stop")]
    [InlineData(Chat, User + ",\"stop\":[\"a\",\"\"]", "stop")]
    public async Task A_result_field_out_of_range_or_without_what_it_needs_is_a_400_naming_it(string path, string fields, string param)
    {
        var (status, body) = await PostAsync(path, "{" + fields + "}");
        Assert.Equal(400, status);
        AssertError(body, param, null);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1.01")]
    [InlineData("-0.5")]
    public async Task Every_top_p_out_of_range_gets_the_same_range_in_its_message(string topP)
    {
        var (status, body) = await PostAsync(Completions, "{" + Prompt + ",\"top_p\":" + topP + "}");
        Assert.Equal(400, status);
        AssertError(body, "top_p", null);
        Assert.Equal($"top_p must be a number in (0, 1], got {topP}", body.GetProperty("error").GetProperty("message").GetString());
    }

    /// <summary>
    /// A negative number past double's smallest reads as -0: temperature -1e-400 was taken for 0 (greedy decoding) and
    /// min_p -1e-400 for 0, where -1e-50 is refused. Both are refused as sent.
    /// </summary>
    [Theory]
    [InlineData("temperature", "temperature must be a number in [0, 2], got -1e-400")]
    [InlineData("min_p", "min_p must be a number in [0, 1], got -1e-400")]
    public async Task A_negative_number_that_reads_as_zero_is_refused_as_sent(string field, string expected)
    {
        var (status, body) = await PostAsync(Completions, "{" + Prompt + ",\"" + field + "\":-1e-400}");
        Assert.Equal(400, status);
        AssertError(body, field, null);
        Assert.Equal(expected, body.GetProperty("error").GetProperty("message").GetString());
    }

    /// <summary>A penalty below single precision's smallest reads as 0: the refusal says so, since 1e-50 is > 0 as sent.</summary>
    [Fact]
    public async Task A_repetition_penalty_that_rounds_to_zero_is_refused_saying_so()
    {
        var (status, body) = await PostAsync(Chat, "{" + User + ",\"repetition_penalty\":1e-50}");
        Assert.Equal(400, status);
        AssertError(body, "repetition_penalty", null);
        Assert.Equal("repetition_penalty must be a number > 0, got 1e-50, which single precision holds as 0", body.GetProperty("error").GetProperty("message").GetString());
    }

    [Theory]
    [InlineData(Completions, Prompt + ",\"max_tokens\":2,\"logit_bias\":{},\"best_of\":1,\"top_k\":0,\"repetition_penalty\":1,\"top_p\":1")]
    [InlineData(Completions, Prompt + ",\"max_tokens\":2,\"logit_bias\":null,\"best_of\":null,\"top_k\":-1,\"repetition_penalty\":null")]
    [InlineData(Chat, User + ",\"max_tokens\":2,\"logprobs\":false,\"top_logprobs\":null,\"tool_choice\":\"none\",\"function_call\":\"auto\",\"functions\":[],\"modalities\":[\"text\"],\"audio\":null")]
    public async Task Result_fields_at_their_neutral_values_are_accepted(string path, string fields)
    {
        var (status, body) = await PostAsync(path, "{" + fields + "}");
        Assert.True(status == 200, body.ToString());
        Assert.Equal(2, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    /// <summary>
    /// vLLM's add_special_tokens: false leaves out the BOS the tokenizer adds (a prompt that writes its own "&lt;s&gt;",
    /// or a chat's); the prompt is one token shorter, as if given as ids without BOS, and true on a chat adds it. The
    /// field was ignored as unknown, so a client that asked for no BOS got one, and a prompt that wrote "&lt;s&gt;" two.
    /// </summary>
    [Fact]
    public async Task Add_special_tokens_false_leaves_out_the_tokenizers_bos()
    {
        const string Fields = ",\"max_tokens\":3,\"temperature\":0,\"echo\":true,\"logprobs\":0";
        var (_, with) = await PostAsync(Completions, "{" + Prompt + Fields + "}");
        var (status, without) = await PostAsync(Completions, "{" + Prompt + Fields + ",\"add_special_tokens\":false}");
        Assert.True(status == 200, without.ToString());
        int[] ids = server.Tokenizer.Encode("Once", addSpecialTokens: false);
        var (_, asIds) = await PostAsync(Completions, "{\"model\":\"stories260K\",\"prompt\":[" + string.Join(",", ids) + "]" + Fields + "}");
        Assert.Equal(PromptTokens(with) - 1, PromptTokens(without));
        Assert.Equal(Tokens(asIds), Tokens(without));
        Assert.Equal("<s>", Tokens(with)[0]);
        // A chat in the plain format adds BOS by default; false leaves it out there too.
        var (_, chatWith) = await PostAsync(Chat, "{" + User + ",\"max_tokens\":1}");
        var (_, chatWithout) = await PostAsync(Chat, "{" + User + ",\"max_tokens\":1,\"add_special_tokens\":false}");
        Assert.Equal(PromptTokens(chatWith) - 1, PromptTokens(chatWithout));

        static int PromptTokens(JsonElement body) => body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        static string[] Tokens(JsonElement body) =>
            [.. body.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!)];
    }

    [Fact]
    public async Task Top_k_is_applied_top_k_1_samples_the_greedy_text()
    {
        const string Sampled = Prompt + ",\"max_tokens\":40,\"temperature\":1,\"seed\":7";
        string greedy = await TextAsync(Completions, "{" + Prompt + ",\"max_tokens\":40,\"temperature\":0}");
        // Without top_k this seed draws another text than greedy decoding, so top_k 1 changing it back is its effect.
        Assert.NotEqual(greedy, await TextAsync(Completions, "{" + Sampled + "}"));
        Assert.Equal(greedy, await TextAsync(Completions, "{" + Sampled + ",\"top_k\":1}"));
        // top_k 0 (and vLLM's -1) keep every token: the plain sampled text.
        Assert.Equal(await TextAsync(Completions, "{" + Sampled + "}"), await TextAsync(Completions, "{" + Sampled + ",\"top_k\":-1}"));
    }

    [Theory]
    [InlineData(-5L)]
    [InlineData(long.MaxValue)]
    public async Task Any_64_bit_seed_draws_as_the_engine_draws_with_its_bits(long seed)
    {
        // OpenAI's seed is any int64; a negative one is the sampler's seed by its two's-complement bits.
        string body = "{" + Prompt + FormattableString.Invariant($",\"max_tokens\":30,\"temperature\":1,\"seed\":{seed}}}");
        Copal.Model.Serving.CompletionResult expected = await server.Engine.CompleteAsync(new Copal.Model.Serving.CompletionRequest
        {
            Prompt = "Once",
            MaxTokens = 30,
            Temperature = 1,
            Seed = unchecked((ulong)seed),
        });
        Assert.Equal(expected.Text, await TextAsync(Completions, body));
        Assert.Equal(expected.Text, await TextAsync(Completions, body));
    }

    [Theory]
    [InlineData("")]
    [InlineData(",\"seed\":-1")] // llama.cpp's "random"
    public async Task A_sampled_request_without_a_seed_or_with_minus_one_is_answered(string seed)
    {
        var (status, body) = await PostAsync(Completions, "{" + Prompt + ",\"max_tokens\":5,\"temperature\":1" + seed + "}");
        Assert.True(status == 200, body.ToString());
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
    }

    /// <summary>Chat's logprobs true without top_logprobs gives each token's own log-probability and no alternatives, as OpenAI's.</summary>
    [Fact]
    public async Task Chat_logprobs_without_top_logprobs_gives_no_alternatives()
    {
        var (status, body) = await PostAsync(Chat, "{" + User + ",\"max_tokens\":3,\"logprobs\":true}");
        Assert.True(status == 200, body.ToString());
        JsonElement[] content = [.. body.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("content").EnumerateArray()];
        Assert.Equal(3, content.Length);
        Assert.All(content, t => Assert.Equal(0, t.GetProperty("top_logprobs").GetArrayLength()));
    }

    /// <summary>
    /// A chat's stop texts are the format's own (where the plain format's next turn starts) and then the request's:
    /// without the format's, a reply would run on into a turn of the user's it wrote itself.
    /// </summary>
    [Fact]
    public void A_chat_stops_at_its_formats_stop_texts_and_the_requests()
    {
        JsonElement body = Copal.Cli.Serving.OpenAiRequests.ParseBody(System.Text.Encoding.UTF8.GetBytes("{" + User + ",\"stop\":\"END\"}"));
        Copal.Cli.Serving.OpenAiRequest request = Copal.Cli.Serving.OpenAiRequests.Chat(body, server.Engine, Copal.Model.Chat.PlainChatFormatter.Instance);
        Assert.Equal(["\n\nuser:", "\n\nsystem:", "END"], request.Prompts.Single().Stop);
    }

    /// <summary>
    /// How messages become the plain format's prompt: a developer message is a system one (OpenAI's newer name), a
    /// message's text parts are joined by a newline (as vLLM joins them: without it "Hello" and "world" would reach
    /// the model as one word).
    /// </summary>
    [Fact]
    public void Developer_messages_are_system_ones_and_text_parts_are_joined_by_a_newline()
    {
        string prompt = ChatPrompt("{\"model\":\"stories260K\",\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief\"},"
            + "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hello\"},{\"type\":\"text\",\"text\":\"world\"}]}]}",
            Copal.Model.Chat.PlainChatFormatter.Instance);
        Assert.Equal("system: Be brief\n\nuser: Hello\nworld\n\nassistant:", prompt);
    }

    /// <summary>
    /// An assistant message's thought, in reasoning_content or vLLM's newer reasoning: reasoning_content is taken when
    /// both are given, and only an assistant's reaches the template.
    /// </summary>
    [Fact]
    public void An_assistants_reasoning_content_is_taken_before_its_reasoning()
    {
        var formatter = new Copal.Model.Chat.TemplateChatFormatter(new Copal.Model.ChatTemplates.ChatTemplate(
            "{% for m in messages %}{{ m.role }}[{{ m.reasoning_content }}]{{ m.content }};{% endfor %}"));
        string prompt = ChatPrompt("{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\",\"reasoning\":\"U\"},"
            + "{\"role\":\"assistant\",\"content\":\"Yo\",\"reasoning_content\":\"A\",\"reasoning\":\"B\"},{\"role\":\"user\",\"content\":\"Ok\"}]}", formatter);
        Assert.Equal("user[]Hi;assistant[A]Yo;user[]Ok;", prompt);
    }

    private string ChatPrompt(string body, Copal.Model.Chat.IChatFormatter formatter) =>
        Copal.Cli.Serving.OpenAiRequests.Chat(Copal.Cli.Serving.OpenAiRequests.ParseBody(System.Text.Encoding.UTF8.GetBytes(body)), server.Engine, formatter)
            .Prompts.Single().Prompt!;

    /// <summary>
    /// A speaker's name has no place in the plain format, which leaves it out (as a template that does not write it
    /// does): the message is answered, not refused or failed.
    /// </summary>
    [Fact]
    public async Task A_named_speaker_is_answered_in_the_plain_format()
    {
        var (status, body) = await PostAsync(Chat, "{\"model\":\"stories260K\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"name\":\"alice\",\"content\":\"Hi\"}]}");
        Assert.True(status == 200, body.ToString());
        Assert.Equal(2, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    /// <summary>A chat's max_tokens 0 asks for no tokens (an empty reply cut by its length), not for the rest of the context as an absent one does.</summary>
    [Fact]
    public async Task A_chats_max_tokens_0_generates_nothing()
    {
        var (status, body) = await PostAsync(Chat, "{" + User + ",\"max_tokens\":0}");
        Assert.True(status == 200, body.ToString());
        Assert.Equal(0, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal("length", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    /// <summary>
    /// llama.cpp's seed -1 asks for a random draw: the engine gets no seed (each request draws its own), not the seed
    /// whose 64 bits are all ones, which every such request would then share; -2 is an ordinary seed.
    /// </summary>
    [Fact]
    public void Seed_minus_one_leaves_the_request_unseeded()
    {
        Assert.Null(SeedOf(",\"seed\":-1"));
        Assert.Equal(unchecked((ulong)-2L), SeedOf(",\"seed\":-2"));

        ulong? SeedOf(string field) => Copal.Cli.Serving.OpenAiRequests.Completion(
            Copal.Cli.Serving.OpenAiRequests.ParseBody(System.Text.Encoding.UTF8.GetBytes("{" + Prompt + field + "}")), server.Engine).Prompts[0].Seed;
    }

    [Fact]
    public async Task Repetition_penalty_is_applied_as_the_engine_applies_it()
    {
        const string Greedy = "\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"max_tokens\":60,\"temperature\":0";
        string plain = await TextAsync(Completions, "{" + Greedy + "}");
        string penalized = await TextAsync(Completions, "{" + Greedy + ",\"repetition_penalty\":1.5}");
        Assert.NotEqual(plain, penalized);
        Copal.Model.Serving.CompletionResult expected = await server.Engine.CompleteAsync(new Copal.Model.Serving.CompletionRequest
        {
            Prompt = "Once upon a time",
            MaxTokens = 60,
            RepetitionPenalty = 1.5f,
        });
        Assert.Equal(expected.Text, penalized);
        Assert.Equal(plain, await TextAsync(Completions, "{" + Greedy + ",\"repetition_penalty\":1}"));
    }

    private async Task<string> TextAsync(string path, string body)
    {
        var (status, json) = await PostAsync(path, body);
        Assert.True(status == 200, json.ToString());
        return json.GetProperty("choices")[0].GetProperty("text").GetString()!;
    }
}
