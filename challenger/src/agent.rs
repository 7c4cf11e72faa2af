//! The dispute agent: plays one side of a dispute on chain to the end with a party's trace.
//! Model servers run it to defend their claims, watchtowers to refute wrong ones. Every move is
//! `gavel_bisection::game::honest_move` on the party's own trace, so an honest party always
//! wins (`spec/game.md`, "Why honest wins"); a faulty party plays the same rules with its
//! corrupted trace and loses.

use std::time::Duration;

use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::rpc::types::{Filter, TransactionReceipt};
use alloy::sol_types::SolEvent;
use anyhow::{bail, Context, Result};
use gavel_bisection::game::{honest_move, Dissection, Move, Side, TraceProvider};
use gavel_bisection::merkle::Hash32;
use gavel_bisection::state::hex32;
use serde::Serialize;

use crate::chain::{b256, event_in, parse_word, Chain, Deployment};
use crate::contracts::{claim_status, dispute_status, IClaimRegistry, IDisputeGame};
use crate::trace::ClaimShape;

/// The on-chain form of a claim.
pub fn claim_data(model_id: u64, request_id: u64, input_root: &Hash32, shape: &ClaimShape) -> IClaimRegistry::ClaimData {
    IClaimRegistry::ClaimData {
        modelId: model_id,
        requestId: request_id,
        macroStepCount: shape.macro_steps,
        level2Depth: shape.level2_depth,
        inputRoot: b256(input_root),
        outputRoot: b256(&shape.output_root),
        finalStateRoot: b256(&shape.final_root),
    }
}

/// A claim's fields as nodes persist them (JSON, roots as `0x`-hex).
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ClaimFields {
    /// Model id.
    pub model_id: u64,
    /// Request id (0: none).
    pub request_id: u64,
    /// Macro-steps.
    pub macro_steps: u64,
    /// Level-2 depth.
    pub level2_depth: u8,
    /// Input blob id.
    pub input_root: String,
    /// Output blob id.
    pub output_root: String,
    /// Final state root.
    pub final_root: String,
}

impl ClaimFields {
    /// From the on-chain form.
    pub fn of(d: &IClaimRegistry::ClaimData) -> ClaimFields {
        ClaimFields {
            model_id: d.modelId,
            request_id: d.requestId,
            macro_steps: d.macroStepCount,
            level2_depth: d.level2Depth,
            input_root: hex32(&d.inputRoot.0),
            output_root: hex32(&d.outputRoot.0),
            final_root: hex32(&d.finalStateRoot.0),
        }
    }

    /// The claim as the contracts take it.
    pub fn data(&self) -> Result<IClaimRegistry::ClaimData> {
        Ok(IClaimRegistry::ClaimData {
            modelId: self.model_id,
            requestId: self.request_id,
            macroStepCount: self.macro_steps,
            level2Depth: self.level2_depth,
            inputRoot: parse_word(&self.input_root)?.into(),
            outputRoot: parse_word(&self.output_root)?.into(),
            finalStateRoot: parse_word(&self.final_root)?.into(),
        })
    }
}

/// One transaction a party sent in a dispute.
#[derive(Clone, Debug, Serialize)]
pub struct MoveRecord {
    /// `claimant` or `challenger`.
    pub mover: String,
    /// `open`, `open_output`, `dissect`, `step`, `timeout` or `cancel`.
    pub kind: String,
    /// Level of the dissected segment (1 macro-steps, 2 instructions).
    pub level: u8,
    /// Macro-step (level 2).
    pub macro_step: u64,
    /// Segment picked (dissect/step): start and end positions.
    pub start: u64,
    /// See `start`.
    pub end: u64,
    /// Gas used by the transaction.
    pub gas: u64,
    /// Transaction hash.
    pub tx: String,
    /// Block it landed in.
    pub block: u64,
}

/// How a dispute ended, from one party's view.
#[derive(Clone, Debug, Serialize)]
pub struct DisputeOutcome {
    /// Dispute id.
    pub dispute_id: u64,
    /// Final status (`spec/game.md`): 2 claimant won, 3 challenger won, 4 cancelled.
    pub status: u8,
    /// Whether this party won.
    pub won: bool,
    /// This party's transactions.
    pub moves: Vec<MoveRecord>,
    /// The executed step, if the game reached one: (macro-step, instruction).
    pub step: Option<(u64, u64)>,
}

impl MoveRecord {
    /// A landed transaction of `mover` on the segment `(level, macro_step, start, end)`.
    fn of(mover: &str, kind: &str, seg: (u8, u64, u64, u64), receipt: &TransactionReceipt) -> MoveRecord {
        MoveRecord {
            mover: mover.into(),
            kind: kind.into(),
            level: seg.0,
            macro_step: seg.1,
            start: seg.2,
            end: seg.3,
            gas: receipt.gas_used,
            tx: receipt.transaction_hash.to_string(),
            block: receipt.block_number.unwrap_or(0),
        }
    }
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::Claimant => "claimant",
        Side::Challenger => "challenger",
    }
}

fn side_u8(s: Side) -> u8 {
    match s {
        Side::Claimant => 0,
        Side::Challenger => 1,
    }
}

/// Reads the latest `Dissected` event of a dispute: the dissection the next mover restates.
pub async fn latest_dissection(chain: &Chain, d: &Deployment, dispute_id: u64) -> Result<Dissection> {
    let filter = Filter::new()
        .address(d.game)
        .event_signature(IDisputeGame::Dissected::SIGNATURE_HASH)
        .topic1(U256::from(dispute_id))
        .from_block(d.from_block);
    let logs = alloy::providers::Provider::get_logs(&chain.provider, &filter).await.context("reading Dissected events")?;
    let mut best: Option<IDisputeGame::Dissected> = None;
    for l in logs {
        let e = l.log_decode::<IDisputeGame::Dissected>().context("malformed Dissected event")?.inner.data;
        if best.as_ref().is_none_or(|b| e.r#move >= b.r#move) {
            best = Some(e);
        }
    }
    let e = best.with_context(|| format!("dispute {dispute_id} has no dissection"))?;
    let mut roots = vec![e.startRoot.0];
    roots.extend(e.roots.iter().map(|r| r.0));
    Ok(Dissection { level: e.level, macro_step: e.macroStep, start: e.start, end: e.end, roots })
}

fn roots_arg(roots: &[Hash32]) -> Vec<B256> {
    roots.iter().map(b256).collect()
}

/// Posts a claim with its bond; returns the claim id.
pub async fn post_claim(chain: &Chain, d: &Deployment, data: &IClaimRegistry::ClaimData) -> Result<(u64, TransactionReceipt)> {
    let model = d.model(data.modelId).with_context(|| format!("model {} is not in the deployment", data.modelId))?;
    let registry = IClaimRegistry::new(d.registry, &chain.provider);
    let tx = registry.postClaim(data.clone()).value(U256::from(model.claim_bond)).into_transaction_request();
    let receipt = chain.send(tx, "posting the claim").await?;
    let id = event_in::<IClaimRegistry::ClaimPosted>(&receipt)
        .map(|e| e.claimId)
        .context("no ClaimPosted event")?;
    Ok((id, receipt))
}

/// Opens an execution dispute on a claim whose final root differs from ours: the first move is
/// our dissection of the claim's whole trace. Returns the dispute id and the move.
pub async fn open_dispute<P>(
    chain: &Chain,
    d: &Deployment,
    claim_id: u64,
    data: &IClaimRegistry::ClaimData,
    initial_root: Hash32,
    trace: &mut P,
) -> Result<(u64, MoveRecord)>
where
    P: TraceProvider<Error = anyhow::Error>,
{
    let model = d.model(data.modelId).with_context(|| format!("model {} is not in the deployment", data.modelId))?;
    let claim = Dissection::claim(data.macroStepCount, initial_root, data.finalStateRoot.0);
    let k = u64::from(d.params.k);
    let mv = tokio::task::block_in_place(|| honest_move(trace, &claim, k, data.level2Depth))?;
    let Some(Move::Dissect { roots, .. }) = mv else {
        bail!("nothing to dispute: our trace agrees with claim {claim_id}");
    };
    let seg = claim.part(0, k, data.level2Depth).context("claim segment")?;
    let registry = IClaimRegistry::new(d.registry, &chain.provider);
    let value = U256::from(model.challenge_bond) + U256::from(d.params.move_bond);
    let tx = registry.challenge(claim_id, data.clone(), roots_arg(&roots)).value(value).into_transaction_request();
    let receipt = chain.send(tx, &format!("challenging claim {claim_id}")).await?;
    let id = event_in::<IClaimRegistry::ClaimChallenged>(&receipt)
        .map(|e| e.disputeId)
        .context("no ClaimChallenged event")?;
    let rec = MoveRecord::of("challenger", "open", (seg.level, seg.macro_step, seg.start, seg.end), &receipt);
    Ok((id, rec))
}

/// Opens an output dispute on a claim whose final root is ours but whose output is not what that
/// state proves (`IStateBinding.verifyOutput`): the claimant must prove the output within its
/// clock or lose. Returns the dispute id and the transaction.
pub async fn challenge_output(chain: &Chain, d: &Deployment, claim_id: u64, data: &IClaimRegistry::ClaimData) -> Result<(u64, MoveRecord)> {
    let model = d.model(data.modelId).with_context(|| format!("model {} is not in the deployment", data.modelId))?;
    let registry = IClaimRegistry::new(d.registry, &chain.provider);
    let tx = registry.challengeOutput(claim_id, data.clone()).value(U256::from(model.challenge_bond)).into_transaction_request();
    let receipt = chain.send(tx, &format!("challenging the output of claim {claim_id}")).await?;
    let id = event_in::<IClaimRegistry::ClaimChallenged>(&receipt)
        .map(|e| e.disputeId)
        .context("no ClaimChallenged event")?;
    Ok((id, MoveRecord::of("challenger", "open_output", (0, 0, 0, 0), &receipt)))
}

/// Plays `side` of dispute `dispute_id` until it ends: moves when it is our turn, claims a
/// timeout when the opponent's clock runs out, waits otherwise. `on_move` sees each of our
/// transactions as it lands.
pub async fn play<P>(
    chain: &Chain,
    d: &Deployment,
    dispute_id: u64,
    side: Side,
    trace: &mut P,
    poll: Duration,
    on_move: &mut (dyn FnMut(&MoveRecord) + Send),
) -> Result<DisputeOutcome>
where
    P: TraceProvider<Error = anyhow::Error>,
{
    let game = IDisputeGame::new(d.game, &chain.provider);
    let k = u64::from(d.params.k);
    let mut moves = Vec::new();
    let mut step = None;
    loop {
        let disp = game.getDispute(dispute_id).call().await.context("getDispute")?;
        if disp.status != dispute_status::ACTIVE {
            let won = match side {
                Side::Claimant => disp.status == dispute_status::CLAIMANT_WON,
                Side::Challenger => disp.status == dispute_status::CHALLENGER_WON,
            };
            if step.is_none() {
                step = executed_step(chain, d, dispute_id).await?;
            }
            return Ok(DisputeOutcome { dispute_id, status: disp.status, won, moves, step });
        }
        // Another dispute already refuted the claim: end this one, stakes go back.
        let claim = IClaimRegistry::new(d.registry, &chain.provider).claims(disp.claimId).call().await.context("claims")?;
        if claim.status == claim_status::REFUTED || claim.status == claim_status::SETTLED {
            // Someone else may have ended it first: then the next poll sees it ended.
            let receipt = match chain.send(game.cancel(dispute_id).into_transaction_request(), &format!("dispute {dispute_id}: cancel")).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(dispute_id, error = %e, "cancel failed");
                    tokio::time::sleep(poll).await;
                    continue;
                }
            };
            let rec = MoveRecord::of(side_name(side), "cancel", (disp.level, disp.macroStep, disp.start, disp.end), &receipt);
            on_move(&rec);
            moves.push(rec);
            continue;
        }
        // In an output dispute only the claimant moves (`defend_output`); the challenger waits
        // for the proof or for the claimant's clock to run out.
        if disp.kind != 0 && side == Side::Claimant {
            bail!("dispute {dispute_id} is an output dispute; use defend_output");
        }
        if disp.turn == side_u8(side) {
            let latest = latest_dissection(chain, d, dispute_id).await?;
            let depth = disp.level2Depth;
            let mv = tokio::task::block_in_place(|| honest_move(trace, &latest, k, depth))?;
            let prev = roots_arg(&latest.roots);
            let (kind, choice, sent) = match mv {
                Some(Move::Dissect { choice, roots }) => {
                    let tx = game.r#move(dispute_id, prev, U256::from(choice), roots_arg(&roots)).value(U256::from(d.params.move_bond));
                    ("dissect", choice, chain.send(tx.into_transaction_request(), &format!("dispute {dispute_id}: move")).await)
                }
                Some(Move::Step { choice, proof }) => {
                    let tx = game.step(dispute_id, prev, U256::from(choice), Bytes::from(proof));
                    ("step", choice, chain.send(tx.into_transaction_request(), &format!("dispute {dispute_id}: step")).await)
                }
                None => bail!("dispute {dispute_id}: our trace agrees with every root of the opponent's dissection"),
            };
            let receipt = match sent {
                Ok(r) => r,
                // The dispute may have ended meanwhile (cancelled after another dispute refuted
                // the claim): the next poll sees it. Anything else is an error.
                Err(e) => {
                    let now = game.getDispute(dispute_id).call().await.context("getDispute")?;
                    if now.status != dispute_status::ACTIVE {
                        continue;
                    }
                    return Err(e);
                }
            };
            let seg = latest.part(choice, k, depth).context("picked part")?;
            if kind == "step" {
                step = Some((seg.macro_step, seg.start));
            }
            let rec = MoveRecord::of(side_name(side), kind, (seg.level, seg.macro_step, seg.start, seg.end), &receipt);
            on_move(&rec);
            moves.push(rec);
            continue;
        }
        // The opponent's turn: end the game if its clock ran out.
        let now = chain.now().await?;
        let clock = if disp.turn == 0 { disp.claimantClock } else { disp.challengerClock };
        if now.saturating_sub(disp.lastMoveAt) > clock {
            let receipt = match chain.send(game.timeout(dispute_id).into_transaction_request(), &format!("dispute {dispute_id}: timeout")).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(dispute_id, error = %e, "timeout failed (the opponent moved?)");
                    tokio::time::sleep(poll).await;
                    continue;
                }
            };
            let rec = MoveRecord::of(side_name(side), "timeout", (disp.level, disp.macroStep, disp.start, disp.end), &receipt);
            on_move(&rec);
            moves.push(rec);
            continue;
        }
        tokio::time::sleep(poll).await;
    }
}

/// The `StepExecuted` event of a dispute, if any: (macro-step, instruction).
pub async fn executed_step(chain: &Chain, d: &Deployment, dispute_id: u64) -> Result<Option<(u64, u64)>> {
    let filter = Filter::new()
        .address(d.game)
        .event_signature(IDisputeGame::StepExecuted::SIGNATURE_HASH)
        .topic1(U256::from(dispute_id))
        .from_block(d.from_block);
    let logs = alloy::providers::Provider::get_logs(&chain.provider, &filter).await?;
    Ok(logs.first().and_then(|l| l.log_decode::<IDisputeGame::StepExecuted>().ok()).map(|e| (e.inner.data.macroStep, e.inner.data.instruction)))
}

/// Answers an output dispute with the final state's output proof.
pub async fn defend_output(chain: &Chain, d: &Deployment, dispute_id: u64, data: &IClaimRegistry::ClaimData, proof: Vec<u8>) -> Result<TransactionReceipt> {
    let game = IDisputeGame::new(d.game, &chain.provider);
    let tx = game.proveOutput(dispute_id, data.finalStateRoot, data.outputRoot, Bytes::from(proof));
    chain.send(tx.into_transaction_request(), &format!("dispute {dispute_id}: proving the output")).await
}

/// Withdraws everything the registry and the game owe `chain`'s account; returns the wei.
pub async fn withdraw_all(chain: &Chain, d: &Deployment) -> Result<U256> {
    let mut total = U256::ZERO;
    let registry = IClaimRegistry::new(d.registry, &chain.provider);
    let owed = registry.credit(chain.address).call().await?;
    if owed > U256::ZERO {
        chain.send(registry.withdraw().into_transaction_request(), "withdrawing from the registry").await?;
        total += owed;
    }
    let game = IDisputeGame::new(d.game, &chain.provider);
    let owed = game.credit(chain.address).call().await?;
    if owed > U256::ZERO {
        chain.send(game.withdraw().into_transaction_request(), "withdrawing from the game").await?;
        total += owed;
    }
    Ok(total)
}

/// An address as 0x-hex.
pub fn addr(a: &Address) -> String {
    a.to_string()
}
