//! A watchtower's view of a run that is ready to play in well under a second: level-1 roots
//! from wasmtime's own run (milliseconds per model), and level-2 roots and one-step proofs from
//! the step machine started at the disputed macro-step's boundary (seconds, for that macro-step
//! only). The full two-engine index ([`RunTrace`]) is built in the background once a claim is
//! disputed; when it arrives the trace checks every level-1 root against it and from then on
//! plays with it, the step machine's truth (`spec/game.md`, "Speed to the first move").
//!
//! The step machine started at a boundary is checked twice: its root at the boundary must be
//! wasmtime's level-1 root there, and where the macro-step ends it must reach wasmtime's next
//! root. Either check failing is a divergence: the trace then waits for the full index.

use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use gavel_bisection::binding::FAILED_OUTPUT;
use gavel_bisection::game::{TraceProvider, LEVEL_MACRO};
use gavel_bisection::machine::{Machine as StepMachine, StepEvent};
use gavel_bisection::merkle::Hash32;
use gavel_bisection::proof::{prove_step_bounded, BlobTrees};
use gavel_bisection::state::{hex32, Status};
use gavel_runner::error::RunnerError;
use gavel_runner::machine::{Machine as FastMachine, MachineOptions, Runtime};
use gavel_runner::prove::Label;

use crate::trace::RunTrace;

/// Fewest steps between two kept copies of the machine inside a macro-step: going back inside a
/// dissection re-runs at most the gap from the last copy. A copy costs about a nanosecond per byte
/// of memory and an instruction a few, so the gap grows with the memory (a quarter of its bytes,
/// in steps): copies stay a small part of the interpretation however large the model.
const MIN_ANCHOR_GAP: u64 = 1 << 22;

/// Builds the full index of a run on a background thread at a low priority (the dispute's own
/// work comes first) and puts it in `slot`; `done` sees whether it worked and how long it took.
pub fn build_full_in_background(
    slot: FullSlot,
    runtime: Arc<Runtime>,
    model: Arc<Vec<u8>>,
    input: Arc<Vec<u8>>,
    options: MachineOptions,
    cache: std::path::PathBuf,
    done: impl FnOnce(bool, std::time::Duration) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        gavel_runner::heap::lower_thread_priority();
        let started = std::time::Instant::now();
        let built = std::fs::create_dir_all(&cache)
            .map_err(anyhow::Error::from)
            .and_then(|()| RunTrace::honest(&runtime, model, input, &options, Some(&cache), &mut |_, _| {}));
        let ok = built.is_ok();
        if let Ok(mut s) = slot.lock() {
            *s = Some(built);
        }
        done(ok, started.elapsed());
    })
}

/// The full index, filled in by a background job ([`FastTrace::confirm_with`]).
pub type FullSlot = Arc<Mutex<Option<Result<RunTrace>>>>;

/// The step machine inside one macro-step: its boundary, a kept copy, and where it stands.
struct Level2 {
    macro_step: u64,
    boundary: StepMachine,
    /// Instructions of the macro-step, once the interpreter has reached its end.
    count: Option<u64>,
    anchor: (u64, StepMachine),
    cursor: (u64, StepMachine),
}

/// A watchtower's trace of one run (see the module docs).
pub struct FastTrace {
    runtime: Arc<Runtime>,
    blobs: Vec<Arc<Vec<u8>>>,
    options: MachineOptions,
    /// wasmtime's roots at macro-step boundaries `0..=N`.
    level1: Vec<Hash32>,
    /// What each macro-step was (the ONNX node it ran).
    labels: Vec<Label>,
    /// The outcome of the run: the output blob id, or `FAILED_OUTPUT`.
    output_root: Hash32,
    /// The final state's output proof (wasmtime's; the full index's once it has taken over).
    output_proof: Vec<u8>,
    level2: Option<Level2>,
    blob_trees: BlobTrees,
    /// Where the background index lands.
    slot: Option<FullSlot>,
    /// The full index once it has arrived: every query goes to it.
    full: Option<RunTrace>,
    /// Why the fast view was found wrong, if it was.
    divergence: Option<String>,
    /// Told once when the fast view is found wrong (the watchtower's event and counter).
    on_divergence: Option<DivergenceHook>,
}

/// Told once when the fast view is found wrong.
type DivergenceHook = Box<dyn FnMut(&str) + Send>;

/// One macro-step of wasmtime; a failed or trapped guest is an outcome of the run, anything else
/// is the host's failure.
fn step_fast(m: &mut FastMachine) -> Result<Label, RunnerError> {
    match m.step() {
        Err(e) if !e.is_guest_outcome() => Err(e),
        Err(e) => Ok(Label { kind: "failed".into(), name: e.to_string().chars().take(120).collect(), op: String::new(), onnx_op: String::new() }),
        Ok(i) => Ok(Label { kind: i.kind, name: i.name, op: i.op, onnx_op: i.onnx_op }),
    }
}

impl FastTrace {
    /// Runs `model` on the raw `input` bytes with wasmtime, recording the root after every
    /// macro-step. Errors if wasmtime fails for a reason of the host's (then only the step
    /// machine can judge the run: use [`RunTrace`]).
    pub fn open(runtime: Arc<Runtime>, model: Arc<Vec<u8>>, input: Arc<Vec<u8>>, options: &MachineOptions) -> Result<FastTrace> {
        let blobs = vec![model, input];
        let mut m = runtime.machine(blobs.clone(), options)?;
        m.track_writes();
        let mut level1 = vec![m.state_root()?];
        let mut labels = Vec::new();
        while m.status() == Status::Running {
            labels.push(step_fast(&mut m)?);
            level1.push(m.state_root()?);
        }
        let output_root = if m.status() == Status::Done { m.output_root()? } else { FAILED_OUTPUT };
        let output_proof = m.output_proof()?;
        Ok(FastTrace {
            runtime,
            blobs,
            options: options.clone(),
            level1,
            labels,
            output_root,
            output_proof,
            level2: None,
            blob_trees: BlobTrees::default(),
            slot: None,
            full: None,
            divergence: None,
            on_divergence: None,
        })
    }

    /// A trace that is the full index from the start (when wasmtime cannot run the claim: the
    /// step machine alone judges it).
    pub fn from_full(runtime: Arc<Runtime>, model: Arc<Vec<u8>>, input: Arc<Vec<u8>>, options: &MachineOptions, full: RunTrace) -> Result<FastTrace> {
        let output_proof = full.output_proof()?;
        Ok(FastTrace {
            runtime,
            blobs: vec![model, input],
            options: options.clone(),
            level1: full.level1().to_vec(),
            labels: full.labels().to_vec(),
            output_root: full.output_root(),
            output_proof,
            level2: None,
            blob_trees: BlobTrees::default(),
            slot: None,
            divergence: full.divergence().map(|d| format!("macro-step {}: {}", d.macro_step, d.reason)),
            full: Some(full),
            on_divergence: None,
        })
    }

    /// What each macro-step was (its ONNX node and operator), from wasmtime's run.
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    /// Calls `f` once if the fast view is found wrong later.
    pub fn on_divergence(&mut self, f: Box<dyn FnMut(&str) + Send>) {
        self.on_divergence = Some(f);
    }

    fn diverged(&mut self, why: String) {
        if self.divergence.is_none() {
            if let Some(f) = self.on_divergence.as_mut() {
                f(&why);
            }
        }
        self.divergence = Some(why);
    }

    /// From now on, the background job's index in `slot` confirms (or replaces) this view.
    pub fn confirm_with(&mut self, slot: FullSlot) {
        self.slot = Some(slot);
    }

    /// Macro-steps of the run.
    pub fn macro_steps(&self) -> u64 {
        self.level1.len() as u64 - 1
    }

    /// The level-1 root at `n` (the final root past the end: a halted state is a fixed point).
    pub fn level1_root(&self, n: u64) -> Hash32 {
        match &self.full {
            Some(f) => f.level1_root(n),
            None => self.level1[usize::try_from(n).unwrap_or(usize::MAX).min(self.level1.len() - 1)],
        }
    }

    /// What the state at level-1 position `n` proves as its output (`None`: still running).
    pub fn output_at(&self, n: u64) -> Option<Hash32> {
        match &self.full {
            Some(f) => f.output_at(n),
            None => (n >= self.macro_steps()).then_some(self.output_root),
        }
    }

    /// The output proof of the final state and what it proves (the output blob id or
    /// `FAILED_OUTPUT`); `None` for positions before the end, where the run is still running.
    pub fn output_with_proof(&mut self, n: u64) -> Result<Option<(Hash32, Vec<u8>)>> {
        self.poll_full()?;
        if let Some(f) = &self.full {
            if self.output_root != f.output_root() {
                self.output_root = f.output_root();
                self.output_proof = f.output_proof()?;
            }
        }
        Ok(self.output_at(n).map(|o| (o, self.output_proof.clone())))
    }

    /// Why the fast view was found wrong, if it was (the full index then plays).
    pub fn divergence(&self) -> Option<&str> {
        self.divergence.as_deref()
    }

    /// Whether the full index has arrived and confirmed or replaced the fast view.
    pub fn confirmed(&self) -> bool {
        self.full.is_some()
    }

    /// Takes the full index if the background job has finished. On a disagreement with the
    /// fast level-1 roots, records the divergence; the full index plays either way.
    fn poll_full(&mut self) -> Result<()> {
        if self.full.is_some() {
            return Ok(());
        }
        let Some(slot) = &self.slot else { return Ok(()) };
        let taken = slot.lock().map_err(|_| anyhow::anyhow!("the background index job panicked"))?.take();
        match taken {
            None => Ok(()),
            Some(Ok(full)) => {
                if full.level1() != self.level1.as_slice() || full.output_root() != self.output_root {
                    let at = full.level1().iter().zip(&self.level1).position(|(a, b)| a != b).unwrap_or(self.level1.len().min(full.level1().len()));
                    let reason = format!("the step machine's level-1 trace differs from wasmtime's at macro-step {at}");
                    tracing::error!(reason = %reason, "wasmtime diverged from the step machine; playing on with the step machine's trace");
                    self.diverged(reason);
                }
                self.full = Some(full);
                self.level2 = None;
                Ok(())
            }
            Some(Err(e)) => {
                // The fast view stays; it was checked at the disputed macro-step's two ends.
                tracing::warn!(error = %format!("{e:#}"), "the background step index failed; playing on with the fast view");
                self.slot = None;
                Ok(())
            }
        }
    }

    /// Blocks until the full index has arrived (after the fast view failed a check).
    fn wait_full(&mut self, why: String) -> Result<&mut RunTrace> {
        tracing::error!(reason = %why, "the fast view failed a check; waiting for the step machine's full index");
        self.diverged(why.clone());
        if self.slot.is_none() && self.full.is_none() {
            bail!("{why}; and no full index is being built");
        }
        loop {
            self.poll_full()?;
            if self.full.is_some() {
                self.divergence = Some(why);
                self.level2 = None;
                return self.full.as_mut().context("full index");
            }
            if self.slot.is_none() {
                bail!("{why}; and the step machine's full index failed");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The step machine at the boundary before macro-step `m` (the final state for `m` past the
    /// end), built from wasmtime's state there and checked against its root.
    fn start_level2(&mut self, m: u64) -> Result<()> {
        if self.level2.as_ref().is_some_and(|l| l.macro_step == m) {
            return Ok(());
        }
        let at = m.min(self.macro_steps());
        let started = std::time::Instant::now();
        let mut f = self.runtime.machine(self.blobs.clone(), &self.options)?;
        for _ in 0..at {
            step_fast(&mut f)?;
        }
        let program = self.runtime.guest.program()?;
        let mut boundary =
            StepMachine::at_boundary(program, self.blobs.clone(), self.options.memory_limit_pages(), f.status(), at, f.memory_snapshot(), f.global_values()?);
        let replayed = started.elapsed();
        let root = boundary.state_root();
        tracing::info!(
            macro_step = m,
            replay_ms = replayed.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "step machine started at wasmtime's boundary"
        );
        if root != self.level1[at as usize] {
            let why = format!("the step machine at wasmtime's boundary {at} hashes to {}, not wasmtime's {}", hex32(&root), hex32(&self.level1[at as usize]));
            self.wait_full(why)?;
            return Ok(());
        }
        self.level2 = Some(Level2 { macro_step: m, count: None, anchor: (0, boundary.clone()), cursor: (0, boundary.clone()), boundary });
        Ok(())
    }

    /// Moves the level-2 cursor of macro-step `m` to `position` (or to the macro-step's end, if
    /// it ends first); returns the position reached.
    fn seek(&mut self, m: u64, position: u64) -> Result<u64> {
        self.start_level2(m)?;
        let started = std::time::Instant::now();
        if self.full.is_some() {
            bail!("internal: seek after the full index took over");
        }
        let next_root = self.level1.get(m as usize + 1).copied();
        let l = self.level2.as_mut().context("level 2")?;
        let target = l.count.map_or(position, |c| position.min(c));
        if target < l.cursor.0 {
            l.cursor = if target >= l.anchor.0 { (l.anchor.0, l.anchor.1.clone()) } else { (0, l.boundary.clone()) };
        }
        let mut mismatch = None;
        let gap = (l.boundary.memory.len() as u64 / 4).max(MIN_ANCHOR_GAP);
        while l.cursor.0 < target {
            if l.cursor.0 >= l.anchor.0 + gap {
                l.anchor = (l.cursor.0, l.cursor.1.clone());
            }
            let budget = (target - l.cursor.0).min(gap);
            let inside = l.cursor.1.status == Status::Running && l.cursor.1.macro_step == m;
            let (n, ev) = if inside { l.cursor.1.run(budget).map_err(|e| anyhow::anyhow!("{e}"))? } else { (0, StepEvent::Halted) };
            l.cursor.0 += n;
            if ev != StepEvent::Executed || n < budget {
                // The macro-step ended (or the state is past it): this is its boundary.
                l.count = Some(l.cursor.0);
                if let Some(want) = next_root.filter(|_| inside) {
                    let got = l.cursor.1.state_root();
                    if got != want {
                        mismatch = Some(format!("the step machine ends macro-step {m} at {}, wasmtime at {}", hex32(&got), hex32(&want)));
                    }
                }
                break;
            }
        }
        let reached = l.cursor.0;
        tracing::debug!(macro_step = m, position, reached, ms = started.elapsed().as_millis() as u64, "seek");
        if let Some(why) = mismatch {
            self.wait_full(why)?;
        }
        Ok(reached)
    }
}

impl TraceProvider for FastTrace {
    type Error = anyhow::Error;

    fn root(&mut self, level: u8, macro_step: u64, position: u64) -> Result<Hash32> {
        self.poll_full()?;
        if let Some(f) = self.full.as_mut() {
            return f.root(level, macro_step, position);
        }
        if level == LEVEL_MACRO {
            return Ok(self.level1_root(position));
        }
        if macro_step >= self.macro_steps() {
            return Ok(self.level1_root(macro_step));
        }
        let reached = self.seek(macro_step, position)?;
        if let Some(f) = self.full.as_mut() {
            return f.root(level, macro_step, position);
        }
        let l = self.level2.as_mut().context("level 2")?;
        if l.count.is_some_and(|c| reached >= c) {
            return Ok(self.level1[macro_step as usize + 1]);
        }
        Ok(l.cursor.1.state_root())
    }

    fn step_proof(&mut self, macro_step: u64, position: u64) -> Result<Vec<u8>> {
        self.poll_full()?;
        if let Some(f) = self.full.as_mut() {
            return f.step_proof(macro_step, position);
        }
        let m = macro_step.min(self.macro_steps());
        if macro_step >= self.macro_steps() {
            // Past the end: the halted final state, a fixed point.
            self.start_level2(m)?;
        } else {
            self.seek(macro_step, position)?;
        }
        if let Some(f) = self.full.as_mut() {
            return f.step_proof(macro_step, position);
        }
        let l = self.level2.as_ref().context("level 2")?;
        let mut machine = if macro_step >= self.macro_steps() { l.boundary.clone() } else { l.cursor.1.clone() };
        let p = prove_step_bounded(&mut machine, &mut self.blob_trees, Some(macro_step)).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(p.proof)
    }
}
