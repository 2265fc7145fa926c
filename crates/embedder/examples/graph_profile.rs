//! Where tract spends its time on a model directory's graph: runs a batch through the
//! optimised plan a few times and prints the total time per operator type.
//!
//! `cargo run --release -p embedder --example graph_profile -- MODEL_DIR [ONNX_FILE] [BATCH] [TOKENS]`
//!
//! Environment: `CONCRETE=1` specialises the plan to the batch and length (`CONCRETE=seq`: the
//! length only) instead of keeping them symbolic; `NODES=1` also lists the slowest nodes;
//! `SHOW=1` prints the kernel each matrix product uses.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::eval;

fn main() -> TractResult<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| ".models/minilm".into()));
    let file = args.next().unwrap_or_else(|| "model.onnx".into());
    let batch: usize = args.next().map_or(32, |s| s.parse().unwrap());
    let tokens: usize = args.next().map_or(51, |s| s.parse().unwrap());
    let mut model = tract_onnx::onnx().model_for_path(dir.join(&file))?;
    let b = model.symbols.sym("batch");
    let s = model.symbols.sym("sequence");
    let concrete = std::env::var("CONCRETE").is_ok();
    let mut names = vec![];
    for ix in 0..model.inputs.len() {
        names.push(model.node(model.inputs[ix].node).name.clone());
        let shape: TVec<TDim> = tvec![b.clone().into(), s.clone().into()];
        model.set_input_fact(ix, InferenceFact::dt_shape(i64::datum_type(), shape))?;
    }
    let typed = model.into_typed()?.into_decluttered()?;
    let optimized = if concrete {
        let mut subs: HashMap<Symbol, TDim> = HashMap::new();
        subs.insert(s.clone(), TDim::from(tokens as i64));
        if std::env::var("CONCRETE").unwrap() != "seq" {
            subs.insert(b.clone(), TDim::from(batch as i64));
        }
        let t = Instant::now();
        let m = typed.set_symbols(&subs)?.into_optimized()?;
        println!("specialised in {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
        m
    } else {
        typed.into_optimized()?
    };
    if std::env::var("SHOW").is_ok() {
        for node in optimized.nodes() {
            if node.op().name() == "OptMatMul" {
                println!("{} {:?}", node, node.op().info()?);
            }
        }
    }
    let plan = TypedSimplePlan::new(optimized)?;
    let inputs: TVec<TValue> = names
        .iter()
        .map(|n| {
            let v = if n == "input_ids" {
                1000i64
            } else if n == "attention_mask" {
                1
            } else {
                0
            };
            Tensor::from_shape(&[batch, tokens], &vec![v; batch * tokens])
                .unwrap()
                .into_tvalue()
        })
        .collect();
    let mut per_op: HashMap<String, f64> = HashMap::new();
    let runs = 3;
    let started = Instant::now();
    for _ in 0..runs {
        let mut state = plan.spawn()?;
        state.run_plan_with_eval(inputs.clone(), |ctx, st, node, input| {
            let t = Instant::now();
            let r = eval(ctx, st, node, input);
            if std::env::var("NAN").is_ok()
                && let Ok(outputs) = &r
            {
                for o in outputs {
                    if let Ok(v) = o.to_plain_array_view::<f32>()
                        && v.iter().any(|x| x.is_nan())
                    {
                        println!("NaN out of {} {:?}", node, node.op().info());
                    }
                }
            }
            *per_op.entry(node.op().name().to_string()).or_default() += t.elapsed().as_secs_f64();
            if std::env::var("NODES").is_ok() {
                *per_op
                    .entry(format!("{} {:?}", node, node.outputs[0].fact))
                    .or_default() += t.elapsed().as_secs_f64();
            }
            r
        })?;
    }
    let total = started.elapsed().as_secs_f64() / runs as f64;
    let mut ops: Vec<_> = per_op.into_iter().collect();
    ops.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!(
        "{file} batch {batch} x {tokens}: {:.1} ms per run ({:.1} sent/s)",
        total * 1e3,
        batch as f64 / total
    );
    for (op, t) in ops.iter().take(40) {
        println!("  {op:<30} {:8.2} ms", t / runs as f64 * 1e3);
    }
    Ok(())
}
