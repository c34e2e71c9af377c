using System.Text.Json.Nodes;
using Copal.Model.Serving;
using Microsoft.AspNetCore.Http;

namespace Copal.Cli.Serving;

/// <summary>
/// What a failure becomes for the client (OpenAI's error object and an HTTP status) and for the server's log (a bug
/// of ours with what its report needs, a model's failure with its message).
/// </summary>
internal static class OpenAiErrors
{
    /// <summary>What a request in flight gets when the server stops under it: 503, the status of a server that cannot serve now.</summary>
    public static OpenAiException ServerStopping() =>
        new(503, "the server is stopping; the generation was cancelled before it finished", type: "server_error");

    /// <summary>
    /// A 500 is a bug of ours: the server's log (standard error) gets what a bug report needs. A model's failure (its
    /// weights' non-finite logits, its chat template's error) is the operator's to fix: the log gets its message.
    /// </summary>
    public static void ReportBug(HttpContext context, int status, Exception e)
    {
        if (status != 500 || e is Copal.Model.Inference.NonFiniteLogitsException)
        {
            return;
        }
        Infrastructure.Out.Info(e is Copal.Model.ChatTemplates.ChatTemplateException
            ? $"copal serve: {context.Request.Method} {context.Request.Path}: {e.Message}"
            : $"copal serve: internal error on {context.Request.Method} {context.Request.Path}, please report it: {e}");
    }

    /// <summary>
    /// OpenAI's error object for <paramref name="e"/> and its status: a request's fault is 4xx, ours 500. In a
    /// <paramref name="chat"/> request the prompt the engine names is the rendered messages: its param is "messages".
    /// </summary>
    public static (int Status, JsonObject Body) ErrorObject(Exception e, bool chat = false)
    {
        (int status, string message, string type, string? param, string? code) = e switch
        {
            OpenAiException o => (o.Status, o.Message, o.Type, o.Param, o.Code),
            CompletionRequestException r => (400, r.Message, "invalid_request_error", chat && r.Parameter == "prompt" ? "messages" : r.Parameter,
                r.ContextLengthExceeded ? "context_length_exceeded" : r.Unsupported ? "unsupported_parameter" : null),
            BadHttpRequestException b => (b.StatusCode, b.Message, "invalid_request_error", null, null),
            NotSupportedException n => (400, n.Message, "invalid_request_error", null, "unsupported_parameter"),
            // The model's chat template refused the conversation (e.g. "roles must alternate"): the request's fault.
            Copal.Model.ChatTemplates.ChatTemplateRaisedException t => (400, t.TemplateMessage, "invalid_request_error", "messages", null),
            // The template itself failed (an error in it, or a render past its step or size budget): the server's,
            // named so its operator can fix the template; not a bug of ours to report.
            Copal.Model.ChatTemplates.ChatTemplateException t => (500, t.Message, "server_error", null, null),
            // The device could not hold this request's KV cache: the server's state, not the request's fault nor a bug;
            // memory frees as other requests end, so a retry may fit.
            Copal.Tensors.Backends.DeviceOutOfMemoryException m => (503, m.Message, "server_error", null, null),
            // The model's weights gave NaN or ±Inf: the server's failure, with a message that names the step.
            Copal.Model.Inference.NonFiniteLogitsException f => (500, f.Message, "server_error", null, null),
            // A bug of ours: the client gets no .NET text, the server's standard error gets the details (ReportBug).
            _ => (500, "internal error: the server failed on this request; its standard error has the details", "server_error", null, null),
        };
        var error = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = code };
        return (status, new JsonObject { ["error"] = error });
    }
}
