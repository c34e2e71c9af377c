using System.Threading.Channels;
using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Tensors;
using Copal.Tensors.Backends;

namespace Copal.Model.Serving;

/// <summary>
/// Continuous batching over <see cref="EngineOptions.Parallel"/> slots. One thread owns the model: between decode
/// steps it admits waiting requests into free slots (a prefill of the prompt on the slot's own KV cache and the first
/// token), then runs one <see cref="LlamaModel.ForwardBatch"/> for every active sequence, samples each row with the
/// sequence's own sampler, streams the tokens out and frees the slots of finished or cancelled sequences. A sequence
/// therefore follows exactly the steps of <see cref="Generator.Generate"/>: prefill, sample, forward the token, sample…
/// </summary>
internal sealed partial class BatchScheduler : IDisposable
{
    /// <summary>Prompt tokens per prefill call of a slot (the slot's activation rows).</summary>
    internal const int PrefillRows = 128;

    private readonly LlamaModel _model;
    private readonly EngineOptions _options;
    private readonly Channel<SequenceJob> _pending = Channel.CreateUnbounded<SequenceJob>(new UnboundedChannelOptions { SingleReader = true });
    // The slots made so far, at most Parallel: one is made when a request finds none free, so a bound far above the
    // work (--parallel 100000) costs nothing until that many requests run at once. Replaced, never changed in place:
    // a reader on another thread (KvCacheBytes) walks the array it read.
    private volatile Slot[] _slots = [];
    private readonly Thread _thread;
    private readonly CancellationTokenSource _stopping = new();
    private readonly EngineStatistics _statistics;
    private RunState? _batch;
    // The batch step's logits on the host, rows × vocab, grown with the batch.
    private float[] _batchLogits = [];

    /// <summary>The failure that ended the decoding loop, if one did.</summary>
    private volatile Exception? _fault;

    /// <summary>The sequences a step (or admission) ended, kept between steps so a step allocates no list.</summary>
    private readonly List<(Slot Slot, StopReason Reason)> _ended = [];

    /// <summary>The sequences a step failed (non-finite logits in their row), likewise kept.</summary>
    private readonly List<(Slot Slot, Exception Error)> _failed = [];

    public BatchScheduler(LlamaModel model, EngineOptions options, EngineStatistics statistics)
    {
        _model = model;
        _options = options;
        _statistics = statistics;
        _thread = new Thread(Loop) { IsBackground = true, Name = "copal-scheduler" };
        _thread.Start();
    }

    /// <summary>Queues a sequence; its tokens arrive on <see cref="SequenceJob.Tokens"/>.</summary>
    /// <remarks>
    /// The scheduler is the engine's inside: a refusal names <see cref="InferenceEngine"/>, the object the caller
    /// holds. A loop that a failed forward pass ended takes no more requests, and says so with that failure.
    /// </remarks>
    public void Submit(SequenceJob job)
    {
        if (_stopping.IsCancellationRequested)
        {
            throw EngineDisposed();
        }
        if (!_pending.Writer.TryWrite(job))
        {
            throw _fault is Exception fault
                ? new InvalidOperationException($"the engine stopped decoding after an error and takes no more requests: {fault.GetType().Name}: {fault.Message.ReplaceLineEndings(" ")}", fault)
                : EngineDisposed();
        }
        // Counted once queued: a refused request was never started.
        Interlocked.Increment(ref _statistics.RequestsStarted);
    }

    /// <summary>The failure that ended the decoding loop, or null while it runs (or after a plain Dispose).</summary>
    public Exception? Fault => _fault;

    private static ObjectDisposedException EngineDisposed() => new(typeof(InferenceEngine).FullName, "the engine was disposed");

    /// <summary>Bytes of the KV caches of the slots that exist now.</summary>
    public long KvCacheBytes
    {
        get
        {
            long total = 0;
            foreach (Slot s in _slots)
            {
                total += s.KvBytes;
            }
            return total;
        }
    }

    /// <summary>Bytes of the activations and logits the slots that exist now and the batch step's state hold.</summary>
    public long ActivationBytes
    {
        get
        {
            long total = _batch?.ActivationBytes ?? 0;
            foreach (Slot s in _slots)
            {
                total += s.ActivationBytes;
            }
            return total;
        }
    }

    private void Loop()
    {
        var active = new List<Slot>();
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                Admit(active);
                if (active.Count == 0)
                {
                    try
                    {
                        // Nothing to decode: sleep until a request arrives.
                        if (!_pending.Reader.WaitToReadAsync(_stopping.Token).AsTask().GetAwaiter().GetResult())
                        {
                            break;
                        }
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                    continue;
                }
                _options.BeforeDecodeStep?.Invoke();
                Step(active);
            }
        }
        catch (Exception e)
        {
            // A failure of the forward pass fails every sequence in flight and every waiting one. The queue is closed
            // first, so a request sent once a caller has seen its sequence fail is refused with this failure.
            _fault = e;
            _pending.Writer.TryComplete();
            FailHeld(e);
            FailPending(e);
            return;
        }
        ObjectDisposedException stopped = EngineDisposed();
        FailHeld(stopped);
        FailPending(stopped);
    }

    /// <summary>
    /// Fails every job a slot holds: those decoding, and one caught in its prefill (an out-of-memory there ends the
    /// loop before the job reaches the active list).
    /// </summary>
    private void FailHeld(Exception e)
    {
        foreach (Slot s in _slots)
        {
            if (s.Job is SequenceJob job)
            {
                s.Job = null;
                FailCounted(job, e);
            }
        }
    }

    private void FailPending(Exception e)
    {
        _pending.Writer.TryComplete();
        while (_pending.Reader.TryRead(out SequenceJob? job))
        {
            FailCounted(job, e);
        }
    }

    /// <summary>
    /// The last prefill of an admission and the logits it gave, before its sampler changed them: the next job of the
    /// same admission with the same prompt (a request's n choices, queued together) copies its KV cache instead of
    /// running the prompt again.
    /// </summary>
    private Slot? _prefilled;
    private float[] _prefilledLogits = [];

    /// <summary>Moves waiting requests into free slots: prefill, first token.</summary>
    private void Admit(List<Slot> active)
    {
        _ended.Clear();
        _failed.Clear();
        _prefilled = null;
        _options.BeforeAdmission?.Invoke();
        while (active.Count < _options.Parallel && _pending.Reader.TryRead(out SequenceJob? job))
        {
            if (job.CancellationToken.IsCancellationRequested)
            {
                Interlocked.Increment(ref _statistics.RequestsCancelled);
                job.Cancel();
                continue;
            }
            int index = ChooseSlot(job);
            Slot? slot = null;
            try
            {
                // Inside: a new slot, or one whose cache was given back, allocates a cache here, which may fail as the
                // prefill may; the job is the slot's before that, so a failure reaches its requester.
                slot = index < _slots.Length ? _slots[index] : MakeSlot();
                try
                {
                    Prefill(slot, job);
                }
                catch (DeviceOutOfMemoryException) when (DropIdleCaches())
                {
                    // The idle slots' states held the memory this job needs: they go, and its prefill runs again
                    // from its first token (the slot's own kept prefix went with its first start).
                    Prefill(slot, job);
                }
            }
            catch (OperationCanceledException) when (job.CancellationToken.IsCancellationRequested)
            {
                LeaveSlot(slot, job);
                Interlocked.Increment(ref _statistics.RequestsCancelled);
                job.Cancel();
                continue;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                FailAdmission(slot, job, e);
                continue;
            }
            catch (OutOfMemoryException e)
            {
                // The host is out of memory: the loop ends (and fails every other request) once this one has heard.
                FailAdmission(slot, job, e);
                throw;
            }
            active.Add(slot);
            if (job.MaxNewTokens == 0)
            {
                _ended.Add((slot, StopReason.MaxTokens)); // a prompt scored, nothing generated
            }
            else if (Sample(slot, slot.Logits) is StopReason reason)
            {
                _ended.Add((slot, reason)); // the prefill's token ended it (an end-of-sequence token, max_tokens 1)
            }
        }
        Retire(active);
    }

    /// <summary>
    /// Starts <paramref name="job"/> in <paramref name="slot"/> and runs its prompt: copied from a twin admitted with it,
    /// after what the slot's kept cache holds of it, or whole; then checks the logits of its first token.
    /// </summary>
    private void Prefill(Slot slot, SequenceJob job)
    {
        int reused = slot.Start(job, ++_admissions);
        // The prompt runs in chunks of PrefillRows with the request's token checked between them: a request
        // cancelled during its prefill stops within one chunk, and the requests behind it wait no longer.
        if (job.ScoresPrompt)
        {
            PrefillScoringPrompt(slot, job);
            Interlocked.Add(ref _statistics.PromptTokensRun, job.PromptIds.Length);
        }
        else if (_prefilled is { Job: SequenceJob twin } source && source != slot && !twin.ScoresPrompt
            && source.State.Positions == job.PromptIds.Length && twin.PromptIds.AsSpan().SequenceEqual(job.PromptIds))
        {
            slot.State.CopyCacheFrom(source.State, job.PromptIds.Length);
            _prefilledLogits.CopyTo(slot.Logits, 0);
            Interlocked.Add(ref _statistics.PromptTokensCopied, job.PromptIds.Length);
            // Its usage counts the prompt as cached: the request ran none of it (OpenAI's cached_tokens).
            job.CachedPromptTokens = job.PromptIds.Length;
        }
        else
        {
            // What the slot's cache already holds of this prompt is not run again (EngineOptions.PrefixCache).
            _model.Forward(slot.State, job.PromptIds.AsSpan(reused), reused, LogitsMode.Last, cancellationToken: job.CancellationToken);
            _model.ReadLogits(slot.State, slot.Logits);
            Interlocked.Add(ref _statistics.PromptTokensRun, job.PromptIds.Length - reused);
            Interlocked.Add(ref _statistics.PromptTokensReused, reused);
            job.CachedPromptTokens = reused;
            if (_prefilledLogits.Length != slot.Logits.Length)
            {
                _prefilledLogits = new float[slot.Logits.Length];
            }
            slot.Logits.CopyTo(_prefilledLogits, 0);
            _prefilled = slot;
        }
        NonFiniteLogitsException.ThrowIfAny(slot.Logits, slot.Logits.Length, _ => $"after the prefill of {Plural.Of(job.PromptIds.Length, "prompt token")}");
        slot.Prefilled();
        NotePeakKvBytes(); // a request that ends here (max_tokens 0 or 1) held its cache too
    }

    // The statistics' peak of KV-cache bytes, taken after each prefill and each decode step (only the loop writes it).
    private void NotePeakKvBytes() =>
        Interlocked.Exchange(ref _statistics.PeakKvBytes, Math.Max(Interlocked.Read(ref _statistics.PeakKvBytes), KvCacheBytes));

    /// <summary>
    /// Gives back the states of idle slots: the caches kept for the prefix cache, and those of slots that keep nothing
    /// (a first reservation, a scoring job's state with every row's logits); true when there were any. Called when the
    /// device refuses memory for work in flight: memory no request uses never makes a request of now fail.
    /// </summary>
    private bool DropIdleCaches()
    {
        bool dropped = false;
        foreach (Slot s in _slots)
        {
            if (s is { Job: null, HoldsState: true })
            {
                s.Forget();
                dropped = true;
            }
        }
        return dropped;
    }

    /// <summary>Admissions so far: the stamp of a slot's last job, so the idle slot used longest ago is the one reused.</summary>
    private long _admissions;

    /// <summary>
    /// A free slot for <paramref name="job"/>: the one whose kept cache holds the most of its prompt; without one, a
    /// slot that keeps nothing, then the one whose last job came earliest, so recent prefixes stay for their next turn.
    /// The index past the slots made is a slot to make (<see cref="MakeSlot"/>).
    /// </summary>
    private int ChooseSlot(SequenceJob job)
    {
        int best = -1, bestReuse = -1;
        long bestStamp = long.MaxValue;
        Slot[] slots = _slots;
        for (int i = 0; i <= slots.Length && i < _options.Parallel; i++)
        {
            Slot? s = i < slots.Length ? slots[i] : null;
            if (s?.Job is not null)
            {
                continue;
            }
            int reuse = s?.ReusableFor(job) ?? 0;
            // A slot not made yet counts as the oldest, as one that keeps nothing: taking it loses no cache.
            long stamp = s is null || !s.KeepsPrefix ? long.MinValue : s.LastAdmission;
            if (reuse > bestReuse || (reuse == bestReuse && stamp < bestStamp))
            {
                (best, bestReuse, bestStamp) = (i, reuse, stamp);
            }
        }
        return best;
    }

    /// <summary>A new slot, after the ones made (ChooseSlot chose it: fewer than Parallel are made).</summary>
    private Slot MakeSlot()
    {
        var slot = new Slot(_model, _options.ContextSize!.Value, _options.PrefixCache);
        _slots = [.. _slots, slot];
        return slot;
    }

    /// <summary>
    /// The prefill of a job that wants its prompt's log-probabilities: chunk by chunk with every row's logits (its
    /// slot's state holds a row of logits per prefill row), each row scoring the next prompt token; the last row's
    /// logits choose the first generated token, as a plain prefill's do.
    /// </summary>
    private void PrefillScoringPrompt(Slot slot, SequenceJob job)
    {
        int[] ids = job.PromptIds;
        int vocab = _model.Config.VocabSize, chunk = slot.State.MaxRows, top = job.TopLogprobs!.Value;
        var following = new ChosenLogprobs[ids.Length - 1];
        // One buffer for every scoring prefill (they run one at a time, here), kept once made and grown with the prompts
        // scored, up to a chunk's rows × the vocabulary: scoring two tokens of a 128k vocabulary took 64 MB at once.
        long needed = (long)Math.Min(chunk, ids.Length) * vocab;
        if (_scoringLogits is null || _scoringLogits.LongLength < needed)
        {
            _scoringLogits = new float[needed];
        }
        float[] logits = _scoringLogits;
        for (int start = 0; start < ids.Length; start += chunk)
        {
            int rows = Math.Min(chunk, ids.Length - start);
            _model.Forward(slot.State, ids.AsSpan(start, rows), start, LogitsMode.All, cancellationToken: job.CancellationToken);
            _model.ReadLogits(slot.State, logits.AsSpan(0, rows * vocab));
            NonFiniteLogitsException.ThrowIfAny(logits.AsSpan(0, rows * vocab), vocab, row => $"at prompt token {start + row + 1} of {ids.Length}");
            // A row's log-softmax reads the whole vocabulary: the rows go in parallel (the forward pass is done).
            int scored = Math.Min(rows, ids.Length - 1 - start);
            Parallel.For(0, scored, new ParallelOptions { CancellationToken = job.CancellationToken }, r =>
            {
                Span<float> row = logits.AsSpan(r * vocab, vocab);
                Span<float> decodable = Generator.Decodable(row, _options.DecodableTokens);
                int next = ids[start + r + 1];
                // A prompt may hold a token past the decodable ones (a padded vocabulary): it is scored among all.
                following[start + r] = TokenLogprobs.Of(next < decodable.Length ? decodable : row, next, top);
            });
            if (start + rows == ids.Length)
            {
                logits.AsSpan((rows - 1) * vocab, vocab).CopyTo(slot.Logits);
            }
        }
        job.PromptLogprobs = new PromptLogprobs(ids, following);
    }

    private float[]? _scoringLogits;

    /// <summary>One forward pass over every active sequence's last token, then a token for each.</summary>
    private void Step(List<Slot> active)
    {
        // Cancelled sequences leave before the step, so they cost no more compute.
        for (int i = active.Count - 1; i >= 0; i--)
        {
            Slot slot = active[i];
            SequenceJob job = slot.Job!;
            if (!job.StopRequested && !job.CancellationToken.IsCancellationRequested)
            {
                continue;
            }
            // The slot is counted free before the request is counted ended, so a reader of the statistics never
            // sees a request ended whose slot is still active.
            active.RemoveAt(i);
            _statistics.ActiveSequences = active.Count;
            if (job.StopRequested)
            {
                // The reader found a stop text: the sequence ended by itself.
                End(slot, StopReason.EndOfSequence);
            }
            else
            {
                Cancel(slot);
            }
        }
        GrowCaches(active);
        int fits = EnsureBatchRows(active.Count, out DeviceOutOfMemoryException? refused);
        for (int i = active.Count - 1; i >= fits; i--)
        {
            // The newest sequences, past the rows the device holds, fail alone, as a cache that cannot grow does.
            Slot slot = active[i];
            active.RemoveAt(i);
            _statistics.ActiveSequences = active.Count;
            Fail(slot, refused!);
        }
        int rows = active.Count;
        if (rows == 0)
        {
            return;
        }
        RunState batch = _batch!; // it holds every row left (EnsureBatchRows)
        Span<int> tokens = stackalloc int[rows];
        Span<int> positions = stackalloc int[rows];
        var states = new RunState[rows];
        for (int i = 0; i < rows; i++)
        {
            Slot s = active[i];
            tokens[i] = s.Context[^1];
            positions[i] = s.Context.Count - 1;
            states[i] = s.State;
        }
        _model.ForwardBatch(batch, states, tokens, positions);
        int vocab = _model.Config.VocabSize;
        if (_batchLogits.Length < rows * vocab)
        {
            _batchLogits = new float[batch.MaxRows * vocab];
        }
        float[] logits = _batchLogits;
        _model.ReadLogits(batch, logits.AsSpan(0, rows * vocab));
        Interlocked.Increment(ref _statistics.DecodeSteps);
        Interlocked.Add(ref _statistics.BatchedRows, rows);
        _statistics.PeakBatchRows = Math.Max(_statistics.PeakBatchRows, rows);
        NotePeakKvBytes();
        _ended.Clear();
        _failed.Clear();
        for (int i = 0; i < rows; i++)
        {
            Slot s = active[i];
            Span<float> row = logits.AsSpan(i * vocab, vocab);
            try
            {
                NonFiniteLogitsException.ThrowIfAny(row, vocab, _ => $"at decode step {s.Generated} (position {s.Context.Count - 1})");
            }
            catch (NonFiniteLogitsException e)
            {
                // That sequence's own failure: the batch's other rows do not depend on it and go on, as does the engine.
                _failed.Add((s, e));
                continue;
            }
            if (Sample(s, row) is StopReason reason)
            {
                _ended.Add((s, reason));
            }
        }
        Retire(active);
    }

    /// <summary>
    /// Makes the batch step's state hold <paramref name="rows"/> rows and returns the rows it holds. It is sized to the
    /// sequences in flight, doubling as more arrive (at most --parallel): its logits alone are rows × vocab floats (0.2
    /// GB for 256 rows of a 200k vocabulary), so one request does not pay for 256. Where the device refuses it, even
    /// once the idle slots' states are gone, the rows of this step are tried, then the rows the state held before:
    /// fewer rows are returned and <paramref name="refused"/> says why, for the sequences past them. A refusal that
    /// escaped here would end the engine for every request.
    /// </summary>
    private int EnsureBatchRows(int rows, out DeviceOutOfMemoryException? refused)
    {
        refused = null;
        if (rows == 0 || (_batch is not null && _batch.MaxRows >= rows))
        {
            return rows;
        }
        int held = _batch?.MaxRows ?? 0;
        _batch?.Dispose();
        _batch = null;
        int[] sizes = [Math.Min(_options.Parallel, Math.Max(rows, 2 * held)), rows, held];
        bool dropped = false;
        for (int i = 0; i < sizes.Length; i++)
        {
            if (sizes[i] == 0 || (i > 0 && sizes[i] >= sizes[i - 1]))
            {
                continue; // none, or a size no smaller than one refused
            }
            try
            {
                _batch = new RunState(_model.Backend, _model.Config, sizes[i], 1, allRowLogits: true);
                return Math.Min(rows, sizes[i]);
            }
            catch (DeviceOutOfMemoryException e)
            {
                refused = e;
                if (!dropped)
                {
                    dropped = true;
                    if (DropIdleCaches())
                    {
                        i--; // the same size again, with the idle slots' memory
                    }
                }
            }
        }
        return 0;
    }

    /// <summary>
    /// Grows each active sequence's KV cache to hold its next position before the batch runs. A device that cannot
    /// hold it fails that request alone, as a prefill that does not fit does; in the batched pass the allocation would
    /// fail the pass, which ends the engine for every request. A cache that cannot grow keeps what it held.
    /// </summary>
    private void GrowCaches(List<Slot> active)
    {
        for (int i = active.Count - 1; i >= 0; i--)
        {
            Slot slot = active[i];
            try
            {
                try
                {
                    slot.State.EnsurePositions(slot.Context.Count);
                }
                catch (DeviceOutOfMemoryException) when (DropIdleCaches())
                {
                    slot.State.EnsurePositions(slot.Context.Count);
                }
            }
            catch (DeviceOutOfMemoryException e)
            {
                active.RemoveAt(i);
                _statistics.ActiveSequences = active.Count;
                Fail(slot, e);
            }
        }
    }

    /// <summary>
    /// Ends the sequences in <see cref="_ended"/> and fails those in <see cref="_failed"/>. As for the cancelled ones in
    /// <see cref="Step"/>, their slots are counted free before their requests are answered, so a reader of the
    /// statistics never sees a request ended whose slot is still active.
    /// </summary>
    private void Retire(List<Slot> active)
    {
        foreach ((Slot slot, _) in _ended)
        {
            active.Remove(slot);
        }
        foreach ((Slot slot, _) in _failed)
        {
            active.Remove(slot);
        }
        _statistics.ActiveSequences = active.Count;
        foreach ((Slot slot, StopReason reason) in _ended)
        {
            End(slot, reason);
        }
        foreach ((Slot slot, Exception e) in _failed)
        {
            Fail(slot, e);
        }
    }

    /// <summary>
    /// The request field of the sampler's step that left no token (<see cref="NoTokenToChooseException.Option"/>); with
    /// none to blame, the logits came masked, which only JSON mode does.
    /// </summary>
    private static string SamplingField(string? option) => option switch
    {
        nameof(SamplingOptions.RepetitionPenalty) => "repetition_penalty",
        nameof(SamplingOptions.FrequencyPenalty) => "frequency_penalty",
        nameof(SamplingOptions.PresencePenalty) => "presence_penalty",
        nameof(SamplingOptions.LogitBias) => "logit_bias",
        _ => "response_format",
    };

    /// <summary>
    /// Chooses the slot's next token as <see cref="Generator.Generate"/> does; returns why the job ends there, or null
    /// when it goes on (the caller ends it once its slot is counted free). A job that no token can continue (JSON mode's
    /// dead end, or options that sent every logit out of range) is put in <see cref="_failed"/>, and null returned.
    /// </summary>
    private StopReason? Sample(Slot slot, Span<float> logits)
    {
        SequenceJob job = slot.Job!;
        Span<float> decodable = Generator.Decodable(logits, _options.DecodableTokens);
        // The sampler rewrites the logits (penalty, temperature): log-probabilities come from the model's own, kept here.
        Span<float> raw = default;
        if (job.TopLogprobs is not null)
        {
            raw = slot.RawLogits.AsSpan(0, decodable.Length);
            decodable.CopyTo(raw);
        }
        // JSON mode's or the schema's mask, after the copy (log-probabilities stay the model's) and before the sampler changes anything.
        if (job.Constraint is { } json && json.Mask(decodable) == 0)
        {
            _failed.Add((slot, new CompletionRequestException("response_format", $"response_format {json.FormatName} cannot go on: {json.DeadEnd()}; ask this model for text instead")));
            return null;
        }
        int next;
        try
        {
            next = slot.Sampler!.Sample(decodable, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(slot.Context));
        }
        catch (NoTokenToChooseException e)
        {
            // The request's own options left no token to choose (a repetition penalty of 3e38 sends the seen tokens'
            // negative logits to −∞, and in JSON mode those may be all that is allowed): that row fails, as a dead end
            // of JSON mode does, and the engine and the batch's other rows go on.
            string field = SamplingField(e.Option);
            _failed.Add((slot, new CompletionRequestException(field, $"{field} left no token to choose at decode step {slot.Generated}: {e.Message}")));
            return null;
        }
        ChosenLogprobs? logprobs = job.TopLogprobs is int top ? TokenLogprobs.Of(raw, next, top) : null;
        if (job.StopIds.Contains(next))
        {
            if (logprobs is not null)
            {
                // Its log-probability is part of the reply's (an evaluation harness scores the continuation that ends here).
                job.Tokens.Writer.TryWrite(new ChosenToken(next, System.Diagnostics.Stopwatch.GetTimestamp(), logprobs, EndsSequence: true));
            }
            return StopReason.EndOfSequence;
        }
        job.Constraint?.Advance(next);
        slot.Context.Add(next);
        slot.Generated++;
        Interlocked.Increment(ref _statistics.TokensGenerated);
        job.Tokens.Writer.TryWrite(new ChosenToken(next, System.Diagnostics.Stopwatch.GetTimestamp(), logprobs));
        // A closed JSON object may only be followed by a stop token: the reply ends now, without a step to choose it.
        // So does a reply whose text now holds a stop text: its reader cuts it there, and further tokens would be waste.
        return job.Constraint?.IsComplete == true || job.StopTexts?.Completes(next) == true ? StopReason.EndOfSequence
            : slot.Generated == job.MaxNewTokens ? StopReason.MaxTokens
            : slot.Context.Count >= job.ContextLimit ? StopReason.ContextFull
            : null;
    }

    // End, Cancel and Fail give the slot back before the requester hears: its answer finds the slot's memory freed.
    private void End(Slot slot, StopReason reason)
    {
        Interlocked.Increment(ref _statistics.RequestsCompleted);
        slot.Release().Finish(reason);
    }

    private void Cancel(Slot slot)
    {
        Interlocked.Increment(ref _statistics.RequestsCancelled);
        slot.Release().Cancel();
    }

    private void Fail(Slot slot, Exception e) => FailCounted(slot.Release(), e);

    // Every failure of a sequence goes through here, so that EngineStatistics.Failed counts each once.
    private void FailCounted(SequenceJob job, Exception e)
    {
        Interlocked.Increment(ref _statistics.RequestsFailed);
        job.Fail(e);
    }

    /// <summary>Fails a job whose admission failed: before its slot existed, while it got a cache, or in its prefill.</summary>
    private void FailAdmission(Slot? slot, SequenceJob job, Exception e)
    {
        LeaveSlot(slot, job);
        FailCounted(job, e);
    }

    /// <summary>Frees the slot of a job whose admission ended early, if it got one (a slot that failed to be made has none).</summary>
    private static void LeaveSlot(Slot? slot, SequenceJob job)
    {
        if (slot?.Job == job)
        {
            slot.Release();
        }
    }

    public void Dispose()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        _stopping.Cancel();
        _pending.Writer.TryComplete();
        _thread.Join();
        _batch?.Dispose();
        foreach (Slot s in _slots)
        {
            s.Dispose();
        }
        _stopping.Dispose();
    }
}
