//! A party's view of a run, as the dispute game asks for it (`gavel_bisection::game::
//! TraceProvider`): level-1 roots from the run's index, level-2 roots and one-step proofs from
//! the step machine's snapshots. An honest party's view is the run itself; a faulty one (the
//! demo's and the tests' liar) corrupts one value at one instruction and lives with the
//! consequences, so it plays the game exactly like a buggy or malicious server would.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use gavel_bisection::binding::FAILED_OUTPUT;
use gavel_bisection::code::op_name;
use gavel_bisection::game::{TraceProvider, LEVEL_MACRO};
use gavel_bisection::machine::Machine as StepMachine;
use gavel_bisection::merkle::Hash32;
use gavel_bisection::proof::{prove_step_bounded, BlobTrees};
use gavel_bisection::state::{hex32, Status};
use gavel_runner::machine::{MachineOptions, Runtime};
use gavel_runner::prove::{Label, RunSteps, SNAPSHOT_STRIDE};

/// What a claim is judged against: a party's level-1 roots and the outcome its final state
/// proves.
pub trait RunView {
    /// The level-1 root at `n` (the final root past the end: a halted state is a fixed point).
    fn level1_root(&self, n: u64) -> Hash32;
    /// What the state at level-1 position `n` proves as its output (`None`: still running).
    fn output_at(&self, n: u64) -> Option<Hash32>;
}

impl RunView for RunTrace {
    fn level1_root(&self, n: u64) -> Hash32 {
        RunTrace::level1_root(self, n)
    }
    fn output_at(&self, n: u64) -> Option<Hash32> {
        RunTrace::output_at(self, n)
    }
}

impl RunView for crate::fast_trace::FastTrace {
    fn level1_root(&self, n: u64) -> Hash32 {
        crate::fast_trace::FastTrace::level1_root(self, n)
    }
    fn output_at(&self, n: u64) -> Option<Hash32> {
        crate::fast_trace::FastTrace::output_at(self, n)
    }
}

/// Where and how a faulty party corrupts its run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fault {
    /// The macro-step (ONNX node) it happens in.
    pub macro_step: u64,
    /// The state inside it (instructions executed in the macro-step) that is corrupted.
    pub position: u64,
    /// XOR applied to the top operand-stack value there.
    pub xor: u64,
    /// The instruction that was about to consume the corrupted value (for reports).
    pub next_op: String,
}

/// What a party claims about a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimShape {
    /// Macro-steps.
    pub macro_steps: u64,
    /// Smallest depth with `k^depth` at least the longest macro-step.
    pub level2_depth: u8,
    /// The root before the first macro-step.
    pub initial_root: Hash32,
    /// The root after the last.
    pub final_root: Hash32,
    /// Output blob id (what the final state's output id leaf holds).
    pub output_root: Hash32,
}

struct Cursor {
    macro_step: u64,
    position: u64,
    machine: StepMachine,
}

/// A party's trace of one run (model + input).
pub struct RunTrace {
    steps: RunSteps,
    /// Level-1 roots `0..=N` as this party sees them.
    level1: Vec<Hash32>,
    /// Instructions per macro-step as this party sees them.
    counts: Vec<u64>,
    fault: Option<Fault>,
    /// The corrupted machine at `fault.position` of `fault.macro_step`.
    fault_state: Option<StepMachine>,
    cursor: Option<Cursor>,
    /// A copy of the cursor from before its last long move forward.
    anchor: Option<Cursor>,
    blob_trees: BlobTrees,
    output_id_address: u32,
    output_root: Hash32,
    /// The final state's output proof, once asked for.
    output_proof: Option<Vec<u8>>,
}

impl RunTrace {
    /// The honest trace of `model` on `input` (encoded tensor set): builds or loads the run's
    /// step index (both engines side by side, cached under `~/.cache/gavel/steps`).
    /// `cache`: where the index and snapshots live (default `~/.cache/gavel/steps`).
    pub fn honest(
        runtime: &Runtime,
        model: Arc<Vec<u8>>,
        input: Arc<Vec<u8>>,
        options: &MachineOptions,
        cache: Option<&std::path::Path>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<RunTrace> {
        let blobs = [model, input];
        let steps = match cache {
            Some(dir) => RunSteps::open_in(dir, runtime, &blobs, options, progress)?,
            None => RunSteps::open(runtime, &blobs, options, progress)?,
        };
        let mut level1 = vec![steps.machine_at(0)?.state_root()];
        for r in &steps.index.roots {
            level1.push(crate::chain::parse_word(r)?);
        }
        let counts = steps.index.per_macro_step.clone();
        // A run that fails or traps is an outcome like any other: its final state is a machine
        // state, and its claim states `FAILED_OUTPUT` (`spec/proofs.md`, "Binding").
        let end = steps.machine_at(steps.index.total())?;
        let output_id_address = runtime.genesis(options)?.output_id_address;
        let output_root = match end.status {
            Status::Done => read_leaf(&end, output_id_address)?,
            Status::Failed | Status::Trapped => FAILED_OUTPUT,
            Status::Running => bail!("the run stopped while still running (an incomplete step index)"),
        };
        Ok(RunTrace {
            steps,
            level1,
            counts,
            fault: None,
            fault_state: None,
            cursor: None,
            anchor: None,
            blob_trees: BlobTrees::default(),
            output_id_address,
            output_root,
            output_proof: None,
        })
    }

    /// [`RunTrace::honest`] with the step cache in `<state_dir>/steps` (how the nodes keep it).
    pub fn in_state_dir(
        runtime: &Runtime,
        state_dir: &std::path::Path,
        model: Arc<Vec<u8>>,
        input: Arc<Vec<u8>>,
        options: &MachineOptions,
    ) -> Result<RunTrace> {
        let dir = state_dir.join("steps");
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        RunTrace::honest(runtime, model, input, options, Some(&dir), &mut |_, _| {})
    }

    /// The same run with one corrupted value: the value an `f32.store` (else any store) of
    /// macro-step `macro_step` is about to write is XORed with `xor`, and the rest of the run is
    /// recomputed by the step machine from there. Stores whose value is overwritten later (so the
    /// run would end in the honest state) are skipped: the last store of the macro-step is tried
    /// first, then earlier ones.
    pub fn faulty(honest: RunTrace, macro_step: u64, xor: u64) -> Result<RunTrace> {
        let mut t = honest;
        let count = *t.counts.get(macro_step as usize).with_context(|| format!("no macro-step {macro_step}"))?;
        let start = t.steps.index.start_of(macro_step);
        let honest_final = *t.level1.last().context("empty trace")?;
        // The stores of the macro-step.
        let mut m = t.steps.machine_at(start)?;
        let (mut f32_stores, mut stores) = (Vec::new(), Vec::new());
        for pos in 0..count {
            let (_, instr) = m.next_instruction();
            let name = op_name(instr.op);
            if m.active && !m.values.is_empty() && name.contains(".store") {
                if name == "f32.store" {
                    f32_stores.push(pos);
                } else {
                    stores.push(pos);
                }
            }
            m.step().map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let pool = if f32_stores.is_empty() { stores } else { f32_stores };
        if pool.is_empty() {
            bail!("macro-step {macro_step} stores nothing");
        }
        let n = pool.len();
        let mut tried = std::collections::BTreeSet::new();
        for pick in [n - 1, n * 3 / 4, n / 2, n / 4, 0] {
            if !tried.insert(pick) {
                continue;
            }
            let position = pool[pick];
            let mut m = t.steps.machine_at(start + position)?;
            let (_, instr) = m.next_instruction();
            let next_op = op_name(instr.op).to_string();
            if let Some(v) = m.values.last_mut() {
                *v ^= xor;
            }
            let fault_state = m.clone();
            // Run the corrupted machine to the end, recording its level-1 view.
            let mut level1 = t.level1[..=macro_step as usize].to_vec();
            let mut counts = t.counts[..macro_step as usize].to_vec();
            let (steps, _) = m.run(u64::MAX).map_err(|e| anyhow::anyhow!("{e}"))?;
            counts.push(position + steps);
            level1.push(m.state_root());
            while m.status == Status::Running {
                let (steps, _) = m.run_macro_step().map_err(|e| anyhow::anyhow!("{e}"))?;
                counts.push(steps);
                level1.push(m.state_root());
            }
            if m.status != Status::Done || level1.last() == Some(&honest_final) {
                tracing::debug!(position, status = ?m.status, "corruption had no lasting effect; trying another store");
                continue;
            }
            t.output_root = read_leaf(&m, t.output_id_address)?;
            t.level1 = level1;
            t.counts = counts;
            t.fault = Some(Fault { macro_step, position, xor, next_op });
            t.fault_state = Some(fault_state);
            t.cursor = None;
            t.anchor = None;
            return Ok(t);
        }
        bail!("no store of macro-step {macro_step} changes the outcome when corrupted; pick another macro-step")
    }

    /// The claim this party would post, at arity `k`.
    pub fn claim_shape(&self, k: u64) -> ClaimShape {
        let longest = self.counts.iter().copied().max().unwrap_or(1).max(1);
        let mut depth = 0u8;
        while k.saturating_pow(depth as u32) < longest {
            depth += 1;
        }
        let n = self.counts.len() as u64;
        if n == 1 && depth == 0 {
            depth = 1;
        }
        ClaimShape {
            macro_steps: n,
            level2_depth: depth,
            initial_root: self.level1[0],
            final_root: *self.level1.last().unwrap_or(&[0; 32]),
            output_root: self.output_root,
        }
    }

    /// The run's outcome as this party sees it: the output blob id, or `FAILED_OUTPUT` for a
    /// run that failed or trapped.
    pub fn output_root(&self) -> Hash32 {
        self.output_root
    }

    /// This party's level-1 root at position `n` (a halted state is a fixed point, so positions
    /// past the end are the final root).
    pub fn level1_root(&self, n: u64) -> Hash32 {
        let last = self.level1.len() - 1;
        self.level1[usize::try_from(n).unwrap_or(usize::MAX).min(last)]
    }

    /// What the state at level-1 position `n` proves as its output (`IStateBinding.verifyOutput`):
    /// the run's outcome if the run has ended by `n`, nothing for a running state.
    pub fn output_at(&self, n: u64) -> Option<Hash32> {
        (n >= self.counts.len() as u64).then_some(self.output_root)
    }

    /// The output proof (`IStateBinding.verifyOutput`) of the run's final state, from the step
    /// machine: it proves [`RunTrace::output_root`] (or `FAILED_OUTPUT` for a failed run).
    pub fn output_proof(&self) -> Result<Vec<u8>> {
        let mut end = self.steps.machine_at(self.steps.index.total())?;
        let header = end.header();
        let path = end.memory_tree().proof(self.output_id_address as usize / 32);
        Ok(gavel_bisection::binding::output_proof(&header, &path))
    }

    /// What the state at level-1 position `n` proves as its output, with the proof (`None`: the
    /// run is still running there).
    pub fn output_with_proof(&mut self, n: u64) -> Result<Option<(Hash32, Vec<u8>)>> {
        let Some(out) = self.output_at(n) else { return Ok(None) };
        if self.output_proof.is_none() {
            self.output_proof = Some(self.output_proof()?);
        }
        Ok(self.output_proof.clone().map(|p| (out, p)))
    }

    /// Where wasmtime and the step machine parted on this run, if they did (the trace is then
    /// the step machine's alone, which is what the chain enforces).
    pub fn divergence(&self) -> Option<&gavel_runner::prove::Divergence> {
        self.steps.index.divergence.as_ref()
    }

    /// The fault, if this is a faulty party.
    pub fn fault(&self) -> Option<&Fault> {
        self.fault.as_ref()
    }

    /// Labels of the macro-steps (ONNX node names and op types).
    pub fn labels(&self) -> &[Label] {
        &self.steps.index.labels
    }

    /// Instructions per macro-step, as this party sees them.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Level-1 roots, as this party sees them.
    pub fn level1(&self) -> &[Hash32] {
        &self.level1
    }

    /// The program counter and opcode of instruction `position` of macro-step `m`.
    pub fn instruction(&mut self, m: u64, position: u64) -> Result<(u32, u16)> {
        let (pc, instr) = self.machine(m, position)?.next_instruction();
        Ok((pc, instr.op))
    }

    /// The machine at `position` of macro-step `m` (positions past the end: the boundary after
    /// it), as this party sees it: the cursor, moved there. It starts from the cursor or the
    /// kept copy behind it when they are at most [`SNAPSHOT_STRIDE`] steps back, else from the
    /// nearest snapshot (or the fault), and keeps a copy of the cursor before a long move
    /// forward, so a dissection's step back into the part it picked costs little.
    fn machine(&mut self, m: u64, position: u64) -> Result<&mut StepMachine> {
        let Some(&count) = self.counts.get(m as usize) else {
            // Past the end of the run: the final, halted state, a fixed point of every later
            // macro-step (a claim with more macro-steps than the run can be dissected there).
            if self.fault.is_some() {
                bail!("a faulty party keeps no level-2 trace after its fault (macro-step {m})");
            }
            let end = self.steps.machine_at(self.steps.index.total())?;
            self.cursor = Some(Cursor { macro_step: m, position, machine: end });
            return Ok(&mut self.cursor.as_mut().context("cursor")?.machine);
        };
        let p = position.min(count);
        if let Some(f) = &self.fault {
            if m > f.macro_step {
                bail!("a faulty party keeps no level-2 trace after its fault (macro-step {m})");
            }
        }
        let fault_at = self.fault.as_ref().filter(|f| f.macro_step == m).map(|f| f.position);
        let from_fault = fault_at.is_some_and(|at| p >= at);
        let usable = |c: &Cursor| {
            c.macro_step == m && c.position <= p && p - c.position <= SNAPSHOT_STRIDE && (!from_fault || fault_at.is_some_and(|at| c.position >= at))
        };
        let (mut machine, at) = if self.cursor.as_ref().is_some_and(usable) {
            let c = self.cursor.take().context("cursor")?;
            // A long way forward: keep where we were, the dissection may step back into it.
            let gap = (c.machine.memory.len() as u64 / 4).max(1 << 22);
            if p - c.position > gap {
                self.anchor = Some(Cursor { macro_step: c.macro_step, position: c.position, machine: c.machine.clone() });
            }
            (c.machine, c.position)
        } else if let Some(a) = self.anchor.as_ref().filter(|a| usable(a)) {
            (a.machine.clone(), a.position)
        } else if from_fault {
            let f = self.fault.as_ref().context("fault")?;
            (self.fault_state.clone().context("fault state")?, f.position)
        } else {
            (self.steps.machine_at(self.steps.index.start_of(m) + p)?, p)
        };
        let mut left = p - at;
        while left > 0 {
            let (n, _) = machine.run(left).map_err(|e| anyhow::anyhow!("{e}"))?;
            if n == 0 {
                bail!("macro-step {m} ended before position {p}");
            }
            left -= n;
        }
        self.cursor = Some(Cursor { macro_step: m, position: p, machine });
        Ok(&mut self.cursor.as_mut().context("cursor")?.machine)
    }
}

fn read_leaf(m: &StepMachine, address: u32) -> Result<Hash32> {
    let a = address as usize;
    let bytes = m.memory.get(a..a + 32).context("output id outside memory")?;
    let mut out = [0u8; 32];
    out.copy_from_slice(bytes);
    Ok(out)
}

impl TraceProvider for RunTrace {
    type Error = anyhow::Error;

    fn root(&mut self, level: u8, macro_step: u64, position: u64) -> Result<Hash32> {
        if level == LEVEL_MACRO {
            let i = (position as usize).min(self.level1.len() - 1);
            return Ok(self.level1[i]);
        }
        let Some(&count) = self.counts.get(macro_step as usize) else {
            // Past the end of the run: the halted final state at every position.
            return Ok(*self.level1.last().context("empty trace")?);
        };
        if position >= count {
            return Ok(self.level1[macro_step as usize + 1]);
        }
        Ok(self.machine(macro_step, position)?.state_root())
    }

    fn step_proof(&mut self, macro_step: u64, position: u64) -> Result<Vec<u8>> {
        // Proving executes the step: prove on a copy, the cursor stays.
        let mut m = self.machine(macro_step, position)?.clone();
        let p = prove_step_bounded(&mut m, &mut self.blob_trees, Some(macro_step)).map_err(|e| anyhow::anyhow!("{e}"))?;
        tracing::debug!(macro_step, position, root = %hex32(&p.root_before), "step proof");
        Ok(p.proof)
    }
}
