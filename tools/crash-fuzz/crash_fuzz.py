#!/usr/bin/env python3
"""Kills copal at random moments and at each of its renames and fsyncs, then checks what it promises of its outputs.

Usage: crash_fuzz.py COPAL_BINARY WORK_FOLDER [SCENARIO,...]   (see README.md; needs strace and ../shared/data)

WORK_FOLDER is made if missing and gets a copy of stories260K (m/) and two calibration texts (c1.txt, c2.txt).
For each scenario (a command that writes an output), the script runs it uninterrupted twice (the reference, and which
files differ between identical runs: reports with timings), then many times with a signal: SIGKILL and SIGTERM
delivered by strace at the entry of its k-th rename / renameat2 (every k an uninterrupted run makes) and SIGKILL at
some of its fsyncs, and SIGKILL, SIGTERM or SIGINT after a random delay. After each run it checks that the inputs are
byte-identical; that the output is absent, the previous one (a --force run over an older output) or the complete new
one; that a --state holds the same state as the output when the output is new; that exit 0 means the new output and
130/143 not; that a run that exited by itself left no temporaries; and, after a SIGKILL, that the next run succeeds,
leaves no temporaries and writes the reference output. It prints one line per finding and a summary per scenario,
and writes WORK_FOLDER/fuzz-summary.json.
"""
import hashlib, json, os, random, re, shutil, signal, subprocess, sys, time

COPAL = os.path.abspath(sys.argv[1])
WORK = os.path.abspath(sys.argv[2])
ONLY = sys.argv[3].split(",") if len(sys.argv) > 3 and sys.argv[3] else None
DATA = os.environ.get("COPAL_DATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data"))
RANDOM_KILLS = int(os.environ.get("RANDOM_KILLS", "12"))
ENV = dict(os.environ, DOTNET_TieredCompilation="0")
TEMP_RE = re.compile(r"^\..*\.(tmp|old|commit)-\d+-\d+-\d+(-[0-9a-f]{8}-[0-9a-f]{8})?-\d+$")
# The lock file earlier versions held in a prune run's --state and --resume folders. A run now locks the folder itself
# (flock, Linux and macOS) and writes no file for it: one found in --state after any run is a defect.
STATE_LOCK = ".copal-state.lock"
random.seed(int(os.environ.get("SEED", "1")))
os.makedirs(WORK, exist_ok=True)
log = open(os.path.join(WORK, "fuzz.log"), "a")


def say(*a):
    line = " ".join(str(x) for x in a)
    print(line, flush=True)
    log.write(line + "\n"); log.flush()


def tree_hash(p, skip=()):
    """name -> sha256 of every file under p (None if p is absent)."""
    if not os.path.lexists(p):
        return None
    if os.path.isfile(p):
        return {"": hashlib.sha256(open(p, "rb").read()).hexdigest()}
    out = {}
    for root, dirs, files in os.walk(p):
        for f in files:
            full = os.path.join(root, f)
            rel = os.path.relpath(full, p)
            out[rel] = hashlib.sha256(open(full, "rb").read()).hexdigest()
    return out


def temps(folders):
    found = []
    for d in folders:
        if os.path.isdir(d):
            found += [os.path.join(d, e) for e in os.listdir(d) if TEMP_RE.match(e)]
    return found


def run(args, inject=None, timeout=600):
    cmd = [COPAL] + args
    if inject:
        call = inject.split("=")[1].split(":")[0]
        # The traced set must hold the call: with trace=none strace injects nothing.
        cmd = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=" + call, "-e", inject] + cmd
    return subprocess.Popen(cmd, cwd=WORK, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def count_calls(args, calls):
    trace = os.path.join(WORK, "trace.txt")
    subprocess.run(["strace", "-f", "-qq", "-o", trace, "-e", "trace=" + ",".join(calls), COPAL] + args,
                   cwd=WORK, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    lines = open(trace).read().splitlines()
    return {c: sum(1 for l in lines if re.search(r"\b" + c + r"\(", l)) for c in calls}


class Scenario:
    def __init__(self, name, args, out, inputs, state=None, prev_args=None, extra_dirs=()):
        self.name, self.args, self.out, self.inputs, self.state = name, args, out, inputs, state
        self.prev_args = prev_args  # a run that makes a different previous output (for --force cases)
        self.extra_dirs = list(extra_dirs)
        self.kills = {}
        self.findings = []

    def dirs(self):
        d = [os.path.dirname(os.path.join(WORK, self.out.rstrip("/")))]
        if self.state:
            d.append(os.path.join(WORK, self.state))
        return d + [os.path.join(WORK, x) for x in self.extra_dirs]

    def comparable(self, h):
        if h is None:
            return None
        return {k: v for k, v in h.items() if k not in self.volatile}

    def setup(self):
        out = os.path.join(WORK, self.out)
        # Two uninterrupted runs: the reference, and which files differ between identical runs (timings).
        self.reset(prev=False)
        p = run(self.args); _, err = p.communicate()
        assert p.returncode == 0, (self.name, err.decode())
        r1 = tree_hash(out); s1 = tree_hash(os.path.join(WORK, self.state)) if self.state else None
        t0 = time.time()
        self.reset(prev=False)
        p = run(self.args); _, err = p.communicate()
        self.duration = time.time() - t0
        assert p.returncode == 0, (self.name, err.decode())
        r2 = tree_hash(out)
        self.volatile = {k for k in r1 if r1.get(k) != r2.get(k)} | {k for k in r2 if k not in r1}
        self.ref = self.comparable(r2)
        self.ref_names = set(r2)
        if self.prev_args:
            self.reset(prev=True)
            self.prev = self.comparable(tree_hash(out)); self.prev_names = set(tree_hash(out))
            self.prev_state = tree_hash(os.path.join(WORK, self.state)) if self.state else None
        say(f"[{self.name}] reference run {self.duration:.1f}s; volatile files {sorted(self.volatile)}")

    def reset(self, prev):
        out = os.path.join(WORK, self.out)
        real = os.path.realpath(out)
        if os.path.isdir(real) and not os.path.islink(real):
            shutil.rmtree(real)
        elif os.path.isfile(real):
            os.remove(real)
        if self.state and os.path.isdir(os.path.join(WORK, self.state)):
            shutil.rmtree(os.path.join(WORK, self.state))
        if prev and self.prev_args:
            p = run(self.prev_args); _, err = p.communicate()
            assert p.returncode == 0, (self.name, "prev", err.decode())

    def check(self, label, rc, err, sig):
        out = os.path.join(WORK, self.out)
        problems = []
        for path, h in self.input_hashes.items():
            if tree_hash(path) != h:
                problems.append(f"input {path} changed")
        h = tree_hash(out)
        got = self.comparable(h)
        # A link to nothing (an output through a link, not written yet) or an empty folder: no output.
        if got is None or got == {} and (not os.path.exists(out) or os.path.isdir(out) and not os.listdir(out)):
            outcome = "absent"
        elif got == self.ref and set(h) == self.ref_names:
            outcome = "new"
        elif self.prev_args and got == self.prev and set(h) == self.prev_names:
            outcome = "prev"
        else:
            outcome = "PARTIAL"
            problems.append(f"output is neither absent, previous nor complete: {sorted(h) if h else h}")
        if self.state:
            st = tree_hash(os.path.join(WORK, self.state))
            if st and STATE_LOCK in st:
                problems.append(f"exit {rc} left {STATE_LOCK} in --state")
            st_files = {k: v for k, v in (st or {}).items() if not TEMP_RE.match(os.path.basename(k))}
            if outcome == "new":
                want = {k: h[k] for k in ("copal-state.safetensors", "copal-state.json")}
                if st_files != want and rc in (-9, 137):
                    # A kill after the model's rename leaves the copy staged with its record: the next run that looks
                    # in --state settles it. Here a run that does only that (then refuses magnitude's --state).
                    sweep = run(["prune", "-m", "m", "-o", "o_never", "--method", "magnitude", "--sparsity", "0.5", "--state", self.state])
                    sweep.communicate()
                    st = tree_hash(os.path.join(WORK, self.state))
                    st_files = {k: v for k, v in (st or {}).items() if not TEMP_RE.match(os.path.basename(k))}
                    self.settled = getattr(self, "settled", 0) + (st_files == want)
                if st_files != want:
                    problems.append(f"output is new but --state does not hold its state: {sorted(st_files)}"
                                    + (" (tensors match)" if st_files.get("copal-state.safetensors") == want["copal-state.safetensors"] else ""))
            elif outcome == "prev":
                if st_files != {k: v for k, v in (self.prev_state or {}).items()}:
                    problems.append("output is the previous one but --state changed")
        if rc == 0 and outcome != "new":
            problems.append(f"exit 0 but output {outcome}")
        if rc in (130, 143) and outcome == "new":
            problems.append(f"exit {rc} (cancelled) but the output is the new one")
        if rc not in (0, 130, 143, -9, 137, 129):
            problems.append(f"unexpected exit {rc}: {err.strip().splitlines()[-1:] if err else ''}")
        if rc in (130, 143, 0):
            left = temps(self.dirs())
            if left:
                problems.append(f"exit {rc} left temporaries {[os.path.basename(x) for x in left]}")
        self.kills[sig] = self.kills.get(sig, 0) + 1
        for pr in problems:
            self.findings.append(f"{label}: {pr}")
            say(f"[{self.name}] FINDING {label} rc={rc}: {pr}")
        return outcome

    def one(self, label, sig, delay=None, inject=None, prev=False):
        self.reset(prev=prev)
        # What --state holds before this run (its manifest's timestamps differ from run to run).
        self.prev_state = tree_hash(os.path.join(WORK, self.state)) if self.state else None
        self.input_hashes = {p: tree_hash(p) for p in self.inputs}
        p = run(self.args, inject=inject)
        if delay is not None:
            time.sleep(delay)
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
        _, err = p.communicate()
        err = err.decode(errors="replace")
        outcome = self.check(label, p.returncode, err, signal.Signals(sig).name)
        # The sweep: the next uninterrupted run must succeed and leave no temporaries.
        if p.returncode in (-9, 137) or (inject and "KILL" in inject):
            left = temps(self.dirs())
            q = run(self.args); _, err2 = q.communicate()
            after = temps(self.dirs())
            if q.returncode != 0:
                self.findings.append(f"{label}: rerun after kill failed: {err2.decode().strip().splitlines()[-1:]}")
                say(f"[{self.name}] FINDING rerun after {label} failed rc={q.returncode}: {err2.decode().strip().splitlines()[-2:]}")
            elif after:
                self.findings.append(f"{label}: rerun left {after}")
                say(f"[{self.name}] FINDING rerun after {label} left {after}")
            elif self.comparable(tree_hash(os.path.join(WORK, self.out))) != self.ref:
                self.findings.append(f"{label}: rerun output differs from the reference")
                say(f"[{self.name}] FINDING rerun after {label}: output differs")
        return outcome


def scenarios():
    m, c1, c2 = os.path.join(WORK, "m"), os.path.join(WORK, "c1.txt"), os.path.join(WORK, "c2.txt")
    cal = ["--calib", "c1.txt", "--nsamples", "4", "--seqlen", "64"]
    s = [
        Scenario("synth", ["synth", "--config", "m/config.json", "-o", "o_synth", "--dtype", "f32", "--force"], "o_synth", [m],
                 prev_args=["synth", "--config", "m/config.json", "-o", "o_synth", "--dtype", "f32", "--seed", "7"]),
        Scenario("prune-magnitude", ["prune", "-m", "m", "-o", "o_mag", "--method", "magnitude", "--sparsity", "0.5", "--force"], "o_mag", [m],
                 prev_args=["prune", "-m", "m", "-o", "o_mag", "--method", "magnitude", "--sparsity", "0.3"]),
        Scenario("prune-wanda", ["prune", "-m", "m", "-o", "o_wanda", "--method", "wanda", "--sparsity", "0.5", "--force"] + cal, "o_wanda", [m, c1],
                 prev_args=["prune", "-m", "m", "-o", "o_wanda", "--method", "magnitude", "--sparsity", "0.3"]),
        Scenario("prune-sparsegpt", ["prune", "-m", "m", "-o", "o_sgpt", "--method", "sparsegpt", "--pattern", "2:4", "--force"] + cal, "o_sgpt", [m, c1],
                 prev_args=["prune", "-m", "m", "-o", "o_sgpt", "--method", "magnitude", "--sparsity", "0.3"]),
        Scenario("prune-wanda-compact", ["prune", "-m", "m", "-o", "o_cmp", "--method", "wanda", "--pattern", "2:4", "--compact", "--force"] + cal, "o_cmp", [m, c1],
                 prev_args=["prune", "-m", "m", "-o", "o_cmp", "--method", "magnitude", "--sparsity", "0.3"]),
        Scenario("prune-copal-state", ["prune", "-m", "m", "-o", "o_copal", "--method", "copal", "--sparsity", "0.5", "--resume", "base_step1",
                                       "--state", "st", "--force", "--calib", "c2.txt", "--nsamples", "4", "--seqlen", "64"], "o_copal",
                 [m, c2, os.path.join(WORK, "base_step1")], state="st",
                 prev_args=["prune", "-m", "m", "-o", "o_copal", "--method", "copal", "--sparsity", "0.5", "--state", "st"] + cal),
        Scenario("prune-symlink-out", ["prune", "-m", "m", "-o", "o_link", "--method", "magnitude", "--sparsity", "0.5", "--force"], "o_link", [m],
                 prev_args=["prune", "-m", "m", "-o", "o_link", "--method", "magnitude", "--sparsity", "0.3"], extra_dirs=["elsewhere"]),
        Scenario("compact", ["compact", "-m", "base_24", "-o", "o_compact", "--force"], "o_compact", [os.path.join(WORK, "base_24")],
                 prev_args=["synth", "--config", "m/config.json", "-o", "o_compact", "--dtype", "f32"]),
        Scenario("densify", ["densify", "-m", "base_24c", "-o", "o_dense", "--force"], "o_dense", [os.path.join(WORK, "base_24c")],
                 prev_args=["synth", "--config", "m/config.json", "-o", "o_dense", "--dtype", "f32"]),
        Scenario("logits", ["logits", "-m", "m", "-t", "Once upon a time there was", "-o", "o_logits.json", "--top-k", "5"], "o_logits.json", [m],
                 prev_args=["logits", "-m", "m", "-t", "Lily", "-o", "o_logits.json", "--top-k", "5"]),
        Scenario("continual", ["continual", "-m", "m", "--datasets", "a=c1.txt,b=c2.txt", "--methods", "copal,magnitude", "--sparsity", "0.5",
                               "--nsamples", "2", "--seqlen", "64", "--eval-limit-chunks", "2", "--no-joint", "-o", "o_cont", "--temp", "ctemp", "--force"],
                 "o_cont", [m, c1, c2], extra_dirs=["ctemp"],
                 prev_args=["synth", "--config", "m/config.json", "-o", "o_cont", "--dtype", "f32"]),
    ]
    return [x for x in s if ONLY is None or x.name in ONLY]


def prepare():
    os.makedirs(WORK, exist_ok=True)
    if not os.path.isdir(os.path.join(WORK, "m")):
        shutil.copytree(os.path.join(DATA, "models", "stories260K"), os.path.join(WORK, "m"))
        for root, dirs, files in os.walk(os.path.join(WORK, "m")):
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)
    calib = open(os.path.join(DATA, "text", "tinystories", "calib.txt"), "rb").read()
    open(os.path.join(WORK, "c1.txt"), "wb").write(calib[:60000])
    open(os.path.join(WORK, "c2.txt"), "wb").write(calib[-60000:])
    def must(args):
        p = subprocess.run([COPAL] + args, cwd=WORK, env=ENV, capture_output=True, text=True)
        assert p.returncode == 0, (args, p.stderr)
    if not os.path.isdir(os.path.join(WORK, "base_step1")):
        must(["prune", "-m", "m", "-o", "base_step1", "--method", "copal", "--sparsity", "0.5", "--calib", "c1.txt", "--nsamples", "4", "--seqlen", "64"])
    if not os.path.isdir(os.path.join(WORK, "base_24")):
        must(["prune", "-m", "m", "-o", "base_24", "--method", "magnitude", "--pattern", "2:4"])
    if not os.path.isdir(os.path.join(WORK, "base_24c")):
        must(["compact", "-m", "base_24", "-o", "base_24c"])
    os.makedirs(os.path.join(WORK, "elsewhere", "target"), exist_ok=True)
    if not os.path.islink(os.path.join(WORK, "o_link")):
        os.symlink(os.path.join(WORK, "elsewhere", "target"), os.path.join(WORK, "o_link"))


def main():
    prepare()
    total = {}
    for sc in scenarios():
        sc.setup()
        outcomes = {}
        # Deterministic kills at every rename of the run and at some of its fsyncs.
        counts = count_calls(sc.args, ["rename", "renameat2", "fsync"])
        say(f"[{sc.name}] calls of an uninterrupted run: {counts}")
        for call in ("rename", "renameat2"):
            for k in range(1, counts[call] + 1):
                for sig in ("KILL", "TERM"):
                    o = sc.one(f"{sig}@{call}#{k}", getattr(signal, "SIG" + sig), inject=f"inject={call}:signal={sig}:when={k}", prev=bool(sc.prev_args) and k % 2 == 0)
                    outcomes[o] = outcomes.get(o, 0) + 1
        n_fsync = counts["fsync"]
        for k in sorted(set([1, n_fsync // 2, n_fsync - 1, n_fsync] + random.sample(range(1, n_fsync + 1), min(3, n_fsync)))):
            if k >= 1:
                o = sc.one(f"KILL@fsync#{k}", signal.SIGKILL, inject=f"inject=fsync:signal=KILL:when={k}", prev=bool(sc.prev_args))
                outcomes[o] = outcomes.get(o, 0) + 1
        for i in range(RANDOM_KILLS):
            sig = random.choice([signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
            # Most delays late in the run, where the outputs are written and renamed.
            d = random.uniform(0.0, sc.duration * 1.1) if i % 2 else random.uniform(sc.duration * 0.6, sc.duration * 1.05)
            o = sc.one(f"{signal.Signals(sig).name}@{d:.2f}s", sig, delay=d, prev=bool(sc.prev_args) and i % 3 == 0)
            outcomes[o] = outcomes.get(o, 0) + 1
        say(f"[{sc.name}] DONE kills {sc.kills} outcomes {outcomes} findings {len(sc.findings)}"
            + (f"; --state copies settled by the next run {sc.settled}" if getattr(sc, "settled", 0) else ""))
        total[sc.name] = {"kills": sc.kills, "outcomes": outcomes, "findings": sc.findings}
    json.dump(total, open(os.path.join(WORK, "fuzz-summary.json"), "w"), indent=1)


main()
