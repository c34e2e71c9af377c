using Copal.Model.Generation;
using Copal.Model.Inference;

namespace Copal.Model.Serving;

internal sealed partial class BatchScheduler
{
    /// <summary>A place for one sequence: its KV cache (in a prefill-sized <see cref="RunState"/>) and its sampler.</summary>
    private sealed class Slot(LlamaModel model, int contextSize, bool keepPrefix)
    {
        // The prompt tokens whose keys and values the idle cache holds for a later job (whole prefill chunks from
        // position 0; see ReusableFor), and the count the running job's prefill will leave there once it completes.
        private int[] _kept = [];
        private int _pending;
        // The cache starts at what the job can reach (at most 256 positions) and grows with the positions used
        // (RunState.EnsurePositions); null until the first job, and between jobs unless it keeps a prefix.
        private RunState? _state;

        /// <summary>The slot's state; only while it holds a job (<see cref="Start"/> makes one where it was given back).</summary>
        public RunState State => _state ?? throw new InvalidOperationException("the slot holds no job");
        public float[] Logits { get; } = new float[model.Config.VocabSize];
        /// <summary>A copy of a step's logits before the sampler rewrites them, for a job that asks for log-probabilities; made at its first use.</summary>
        public float[] RawLogits => _rawLogits ??= new float[model.Config.VocabSize];
        private float[]? _rawLogits;
        public List<int> Context { get; } = [];
        public SequenceJob? Job { get; set; }
        public Sampler? Sampler { get; private set; }
        public int Generated { get; set; }
        public long KvBytes => _state?.KvCacheBytes ?? 0;
        public long ActivationBytes => _state?.ActivationBytes ?? 0;

        // Every row's logits only for a job that scores its prompt: a prefill's rows × the vocabulary (see Start). The
        // activations start at one row (a decode step's) and grow with the prompt chunks run (RunState.EnsureRows):
        // a 3-token prompt held 128 rows, 24.75 MiB at LLaMA-7B, and 74 MiB more of a 152k vocabulary's logits to score it.
        // The cache's first reservation is what the job can reach (its prompt plus max_tokens), at most 256 positions:
        // a 15-position request had reserved 256 (64 MiB at Llama-3-8B's shapes for 3.75 MiB of work).
        private static RunState NewState(LlamaModel model, int contextSize, bool allRowLogits, int reach) => new(model.Backend, model.Config, ChunkRowsFor(contextSize), contextSize,
            allRowLogits, reservedPositions: Math.Clamp(reach, 1, Math.Min(contextSize, InitialPositions)), reservedRows: 1);

        /// <summary>The most positions a slot's cache reserves before its job runs; it grows from there.</summary>
        private const int InitialPositions = 256;

        /// <summary>Rows of a prefill call (the state's MaxRows): a prompt runs in chunks of this many from its first token.</summary>
        private static int ChunkRowsFor(int contextSize) => Math.Min(PrefillRows, contextSize);

        private int ChunkRows => ChunkRowsFor(contextSize);

        /// <summary>Whether the slot holds a state (its KV cache and activations), which <see cref="Forget"/> gives back.</summary>
        public bool HoldsState => _state is not null;

        /// <summary>Whether the idle slot holds a prefix a later job could reuse.</summary>
        public bool KeepsPrefix => _kept.Length > 0;

        /// <summary>The stamp of the slot's last job (<see cref="Start"/>).</summary>
        public long LastAdmission { get; private set; }

        /// <summary>
        /// Prompt tokens of <paramref name="job"/> whose keys and values this idle slot's cache holds: the longest
        /// run of whole prefill chunks (MaxRows tokens each, from position 0) of an earlier prompt that this one begins
        /// with, leaving at least one token to run for the first token's logits. A fresh prefill computes those
        /// positions in the same chunks from the same tokens, so what follows is the same to the bit. Positions an
        /// earlier job decoded one at a time are not reused: a decode step's row may round differently from a chunk's.
        /// A job that scores its prompt runs it whole, for every row's logits.
        /// </summary>
        public int ReusableFor(SequenceJob job)
        {
            if (_kept.Length == 0 || _state is null || job.ScoresPrompt)
            {
                return 0;
            }
            int common = _kept.AsSpan().CommonPrefixLength(job.PromptIds);
            int reuse = Math.Min(common, job.PromptIds.Length - 1) / ChunkRows * ChunkRows;
            // A sliding-window layer drops positions as its cache slides: go back to where every window still finds its keys.
            while (reuse > 0 && _state.LayerMissingKeysFor(reuse) >= 0)
            {
                reuse -= ChunkRows;
            }
            return reuse;
        }

        /// <summary>
        /// Takes the job, then makes the slot's cache where it has none (which may fail: the job is held, so it hears).
        /// Returns the prompt tokens the cache already holds (<see cref="ReusableFor"/>), which its prefill skips.
        /// </summary>
        public int Start(SequenceJob job, long admission)
        {
            int reused = ReusableFor(job);
            _kept = [];
            _pending = keepPrefix && !job.ScoresPrompt ? job.PromptIds.Length / ChunkRows * ChunkRows : 0;
            LastAdmission = admission;
            Job = job;
            // A kept state (a plain job's prefix) is replaced for a job that scores its prompt, which needs every row's
            // logits; a scoring job keeps no prefix, so its state is gone by the next job.
            if (_state is not null && _state.AllRowLogits != job.ScoresPrompt)
            {
                _state.Dispose();
                _state = null;
            }
            _state ??= NewState(model, contextSize, job.ScoresPrompt, job.ContextLimit);
            // A decode step's one row (its scratch in the batch step), where Release gave the rows back; the prefill grows them.
            _state.EnsureRows(1);
            // The cache grows with the job, up to its prompt and max_tokens, not by doubling past them.
            _state.GrowthLimit = job.ContextLimit;
            // The previous job's sampler is done: its buffers of the vocabulary's size serve this one.
            Sampler = new Sampler(job.Sampling, previous: Sampler);
            Context.Clear();
            Context.AddRange(job.PromptIds);
            Generated = 0;
            return reused;
        }

        /// <summary>
        /// The job's prompt is in the cache: its whole chunks may serve a later job once this one ends. Its decode steps
        /// use one row of the state (the batch step's scratch), so the prefill's rows go back to the device, and a
        /// scoring job's rows × vocabulary of logits with them: a 128-token prompt's rows are 24.75 MiB at Llama-2-7B's
        /// shapes, held for the whole reply. The one row is allocated after they are freed, so this costs no more.
        /// </summary>
        public void Prefilled()
        {
            if (_pending > 0)
            {
                _kept = Job!.PromptIds[.._pending];
            }
            if (_state!.Rows > 1)
            {
                _state.ReleaseRows();
                _state.EnsureRows(1);
            }
        }

        /// <summary>
        /// Ends the slot's job and returns it, for its requester to hear. A cache that keeps no prefix (the prefix cache
        /// off, or a prompt shorter than a chunk) is given back, and the next job makes one sized to its own reach:
        /// memory follows the work in flight, not the longest request served (nor the first reservation, which a short
        /// job's idle slot had kept, 256 positions of every layer). With the prefix cache, a cache holding prompt chunks
        /// stays for the next turn. The activations (and a scoring job's logits) go either way: they are scratch of a
        /// call, which an idle slot makes none of. Nothing is allocated here, so ending a job cannot fail.
        /// </summary>
        public SequenceJob Release()
        {
            SequenceJob job = Job!;
            Job = null;
            if (_state is not null && !KeepsPrefix)
            {
                _state.Dispose();
                _state = null;
            }
            _state?.ReleaseRows();
            return job;
        }

        /// <summary>Gives the idle slot's cache back, and the prefix it kept with it.</summary>
        public void Forget()
        {
            _kept = [];
            _state?.Dispose();
            _state = null;
        }

        public void Dispose()
        {
            // Dropped, not only disposed: the engine's KvCacheBytes reads what the slots hold, which is then nothing.
            _state?.Dispose();
            _state = null;
        }
    }
}
