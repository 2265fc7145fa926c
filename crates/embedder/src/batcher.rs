//! Dynamic batching: texts from concurrent requests are pooled, sorted by token length, cut
//! into padding-efficient batches and run on a fixed set of inference threads (one per core
//! by default), so the async runtime never blocks on the model. When the model runs texts
//! one at a time (`Model::runs_per_text`, the default) a batch is a thread's share of the
//! waiting texts, and each text's vector is handed over as soon as it is made.
//!
//! A batch is formed only when an inference thread is free: while all are busy, arriving
//! texts pile up and the next batches are cut from everything waiting (oldest texts first,
//! so long texts are not starved by a stream of short ones). One free thread and one text
//! means no waiting at all; `max_wait` can add a delay to grow batches further.
//!
//! A text that arrives while every thread is idle and nothing else waits runs on all of
//! them (`Model::embed_alone`): the chat path's one message at a time gets the whole machine,
//! as onnxruntime's intra-op threads give it.
//!
//! Admission is bounded: `Batcher::embed` counts every admitted text until its vector is
//! produced, and refuses a request whose texts would push that count past the capacity
//! (`SubmitError::QueueFull`, which the API turns into 503 + `Retry-After`). Nothing here
//! parses HTTP or knows about prefixes; texts arrive already tokenized.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::metrics::Metrics;
use crate::model::{Encoded, Model};

/// Scheduling knobs, from the command line.
#[derive(Debug, Clone, Copy)]
pub struct BatcherOptions {
    /// Most texts in one graph run.
    pub max_batch: usize,
    /// How long the first text of a batch may wait for others to join it.
    pub max_wait: Duration,
    /// Most texts admitted (queued or running) at once.
    pub queue_capacity: usize,
    /// Inference threads.
    pub workers: usize,
}

/// Why a submission produced no vectors.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the embedding queue is full")]
    QueueFull,
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("the inference threads have stopped")]
    Closed,
}

type Reply = oneshot::Sender<Result<Vec<Vec<f32>>, String>>;

/// One request's texts on their way through the batcher.
struct Job {
    results: Mutex<Vec<Vec<f32>>>,
    remaining: AtomicUsize,
    reply: Mutex<Option<Reply>>,
    admitted: usize,
    metrics: Arc<Metrics>,
}

impl Job {
    fn fail(&self, message: &str) {
        if let Some(reply) = self.reply.lock().expect("job lock").take() {
            self.metrics.queue_depth.sub(self.admitted);
            let _ = reply.send(Err(message.to_string()));
        }
    }

    fn complete(&self, index: usize, vector: Vec<f32>) {
        self.results.lock().expect("job lock")[index] = vector;
        if self.remaining.fetch_sub(1, Ordering::SeqCst) == 1
            && let Some(reply) = self.reply.lock().expect("job lock").take()
        {
            self.metrics.queue_depth.sub(self.admitted);
            let results = std::mem::take(&mut *self.results.lock().expect("job lock"));
            let _ = reply.send(Ok(results));
        }
    }
}

struct WorkItem {
    job: Arc<Job>,
    index: usize,
    encoded: Encoded,
}

/// Handle used by request handlers; cheap to share behind an `Arc`.
pub struct Batcher {
    jobs: mpsc::UnboundedSender<Vec<WorkItem>>,
    options: BatcherOptions,
    metrics: Arc<Metrics>,
}

impl Batcher {
    /// Starts the scheduling task (on the current tokio runtime) and the inference threads.
    pub fn start(model: Arc<Model>, options: BatcherOptions, metrics: Arc<Metrics>) -> Batcher {
        // Texts that run one by one gain nothing from big batches: small shares keep every
        // thread busy until the queue is empty, instead of one thread working through a long
        // batch while another idles.
        let options = if model.runs_per_text() {
            BatcherOptions {
                max_batch: options.max_batch.min(PER_TEXT_SHARE),
                ..options
            }
        } else {
            options
        };
        let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
        // Each batch travels with a permit for the thread it occupies: the scheduler cuts
        // batches only for free threads, so waiting texts stay mergeable until then.
        let free_threads = Arc::new(Semaphore::new(options.workers.max(1)));
        let (batches_tx, batches_rx) = mpsc::unbounded_channel::<Batch>();
        let batches_rx = Arc::new(Mutex::new(batches_rx));
        for n in 0..options.workers.max(1) {
            let model = model.clone();
            let rx = batches_rx.clone();
            let metrics = metrics.clone();
            std::thread::Builder::new()
                .name(format!("embedder-infer-{n}"))
                .spawn(move || inference_thread(&model, &rx, &metrics))
                .expect("spawn inference thread");
        }
        tokio::spawn(schedule(
            jobs_rx,
            batches_tx,
            free_threads,
            options,
            model.spreads_lone_texts(),
            metrics.clone(),
        ));
        Batcher {
            jobs: jobs_tx,
            options,
            metrics,
        }
    }

    /// Texts admitted and not yet embedded.
    pub fn depth(&self) -> u64 {
        self.metrics.queue_depth.get()
    }

    pub fn options(&self) -> &BatcherOptions {
        &self.options
    }

    /// Embeds `texts` (one vector each, in order), sharing graph runs with other requests.
    pub async fn embed(&self, texts: Vec<Encoded>) -> Result<Vec<Vec<f32>>, SubmitError> {
        let n = texts.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let before = self.metrics.queue_depth.add(n);
        if before as usize + n > self.options.queue_capacity {
            self.metrics.queue_depth.sub(n);
            self.metrics.rejected.inc();
            return Err(SubmitError::QueueFull);
        }
        let (reply_tx, reply_rx) = oneshot::channel();
        let job = Arc::new(Job {
            results: Mutex::new(vec![Vec::new(); n]),
            remaining: AtomicUsize::new(n),
            reply: Mutex::new(Some(reply_tx)),
            admitted: n,
            metrics: self.metrics.clone(),
        });
        let items = texts
            .into_iter()
            .enumerate()
            .map(|(index, encoded)| WorkItem {
                job: job.clone(),
                index,
                encoded,
            })
            .collect();
        if self.jobs.send(items).is_err() {
            job.fail("closed");
            return Err(SubmitError::Closed);
        }
        match reply_rx.await {
            Ok(Ok(vectors)) => Ok(vectors),
            Ok(Err(message)) => Err(SubmitError::Inference(message)),
            Err(_) => Err(SubmitError::Closed),
        }
    }
}

/// Texts for one inference thread, with the permits of the threads it occupies: its own, or
/// every thread's when `alone` (one text and nothing else waiting: it may spread over all
/// cores, see `Model::embed_alone`, and the other threads stay free of work meanwhile).
struct Batch {
    items: Vec<WorkItem>,
    _permits: Vec<OwnedSemaphorePermit>,
    alone: bool,
}

async fn schedule(
    mut jobs: mpsc::UnboundedReceiver<Vec<WorkItem>>,
    batches: mpsc::UnboundedSender<Batch>,
    free_threads: Arc<Semaphore>,
    options: BatcherOptions,
    spread_lone_texts: bool,
    metrics: Arc<Metrics>,
) {
    // Waiting texts, oldest first.
    let mut pending: Vec<WorkItem> = Vec::new();
    loop {
        if pending.is_empty() {
            match jobs.recv().await {
                Some(job) => pending.extend(job),
                None => return,
            }
        }
        let Ok(first) = free_threads.clone().acquire_owned().await else {
            return;
        };
        while let Ok(more) = jobs.try_recv() {
            pending.extend(more);
        }
        if !options.max_wait.is_zero() {
            let deadline = tokio::time::Instant::now() + options.max_wait;
            while pending.len() < options.max_batch {
                match tokio::time::timeout_at(deadline, jobs.recv()).await {
                    Ok(Some(more)) => pending.extend(more),
                    _ => break,
                }
            }
        }
        let mut permits = vec![first];
        while let Ok(p) = free_threads.clone().try_acquire_owned() {
            permits.push(p);
        }
        if spread_lone_texts && pending.len() == 1 && permits.len() == options.workers.max(1) {
            // One text, every thread idle: it takes them all.
            metrics.batch_size.observe(1.0);
            dispatch(
                &batches,
                Batch {
                    items: std::mem::take(&mut pending),
                    _permits: permits,
                    alone: true,
                },
            );
            continue;
        }
        // The oldest texts that the free threads can take, sorted by length and cut.
        let take = pending.len().min(options.max_batch * permits.len());
        let mut chosen: Vec<WorkItem> = pending.drain(..take).collect();
        chosen.sort_by_key(|item| item.encoded.len());
        let lengths: Vec<usize> = chosen.iter().map(|i| i.encoded.len()).collect();
        let mut plan = plan_batches(&lengths, options.max_batch, permits.len());
        // More batches than free threads: the longest texts wait for the next round, first.
        let keep = plan.len().min(permits.len());
        let leftover: usize = plan.drain(keep..).sum();
        let back: Vec<WorkItem> = chosen.drain(chosen.len() - leftover..).collect();
        pending.splice(0..0, back);
        for size in plan {
            let rest = chosen.split_off(size);
            let batch = std::mem::replace(&mut chosen, rest);
            metrics.batch_size.observe(batch.len() as f64);
            let permit = permits.pop().expect("a permit per batch");
            dispatch(
                &batches,
                Batch {
                    items: batch,
                    _permits: vec![permit],
                    alone: false,
                },
            );
        }
    }
}

/// Hands `batch` to the inference threads; if they have stopped, its requests hear so.
fn dispatch(batches: &mpsc::UnboundedSender<Batch>, batch: Batch) {
    if let Err(mpsc::error::SendError(batch)) = batches.send(batch) {
        for item in batch.items {
            item.job.fail("inference threads stopped");
        }
    }
}

fn inference_thread(
    model: &Model,
    batches: &Mutex<mpsc::UnboundedReceiver<Batch>>,
    metrics: &Metrics,
) {
    loop {
        let next = match batches.lock() {
            Ok(mut rx) => rx.blocking_recv(),
            Err(_) => None,
        };
        // The permits are released when this iteration ends: the threads are free again.
        let Some(batch) = next else { return };
        if batch.alone {
            run(model, metrics, &batch.items, Model::embed_alone);
        } else if model.runs_per_text() {
            // Each text runs alone: its request hears as soon as its last text is done.
            for item in &batch.items {
                run(model, metrics, std::slice::from_ref(item), Model::embed);
            }
        } else {
            run(model, metrics, &batch.items, Model::embed);
        }
    }
}

/// `Model::embed` or `Model::embed_alone`.
type EmbedFn = fn(&Model, &[&Encoded]) -> anyhow::Result<Vec<Vec<f32>>>;

/// One `embed` call (`Model::embed` or `Model::embed_alone`) over `items`, whose requests
/// get the vectors or the error.
fn run(model: &Model, metrics: &Metrics, items: &[WorkItem], embed: EmbedFn) {
    let started = Instant::now();
    let encoded: Vec<&Encoded> = items.iter().map(|i| &i.encoded).collect();
    match embed(model, &encoded) {
        Ok(vectors) => {
            metrics
                .inference_seconds
                .observe(started.elapsed().as_secs_f64());
            for (item, vector) in items.iter().zip(vectors) {
                item.job.complete(item.index, vector);
            }
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "inference failed");
            for item in items {
                item.job.fail(&format!("{e:#}"));
            }
        }
    }
}

/// Most texts a thread takes at once when texts run one by one.
const PER_TEXT_SHARE: usize = 4;

/// Graph-run overhead expressed in padded tokens: below this, splitting a batch to save
/// padding costs more than it saves.
const RUN_OVERHEAD_TOKENS: usize = 32;

/// Cuts texts sorted by ascending token length into consecutive batches (returned as batch
/// sizes, in order). Minimises padded tokens plus a fixed cost per run, with at most
/// `max_batch` texts per batch; then, if that left fewer batches than `workers`, halves the
/// largest ones so every inference thread gets a share.
pub fn plan_batches(sorted_lengths: &[usize], max_batch: usize, workers: usize) -> Vec<usize> {
    let n = sorted_lengths.len();
    if n == 0 {
        return Vec::new();
    }
    let max_batch = max_batch.max(1);
    // cost[i] = best cost of the first i texts; cut[i] = size of the last batch in it.
    let mut cost = vec![usize::MAX; n + 1];
    let mut cut = vec![0usize; n + 1];
    cost[0] = 0;
    for end in 1..=n {
        let longest = sorted_lengths[end - 1].max(1);
        for size in 1..=max_batch.min(end) {
            let c = cost[end - size] + size * longest + RUN_OVERHEAD_TOKENS;
            if c < cost[end] {
                cost[end] = c;
                cut[end] = size;
            }
        }
    }
    let mut sizes = Vec::new();
    let mut end = n;
    while end > 0 {
        sizes.push(cut[end]);
        end -= cut[end];
    }
    sizes.reverse();
    while sizes.len() < workers {
        let (largest, &size) = sizes
            .iter()
            .enumerate()
            .max_by_key(|&(_, s)| *s)
            .expect("non-empty");
        if size < 2 {
            break;
        }
        sizes.splice(largest..=largest, [size / 2, size - size / 2]);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_covers_every_text_once_within_max_batch() {
        let lengths: Vec<usize> = (1..=100).map(|i| 5 + i % 7 + i / 3).collect();
        let mut sorted = lengths.clone();
        sorted.sort();
        let plan = plan_batches(&sorted, 32, 2);
        assert_eq!(plan.iter().sum::<usize>(), 100);
        assert!(plan.iter().all(|&s| (1..=32).contains(&s)), "{plan:?}");
    }

    #[test]
    fn uniform_lengths_are_split_evenly_across_workers() {
        assert_eq!(plan_batches(&[10; 32], 32, 2), vec![16, 16]);
        assert_eq!(plan_batches(&[10; 32], 32, 1), vec![32]);
    }

    #[test]
    fn very_different_lengths_go_to_separate_batches() {
        let mut lengths = vec![8; 16];
        lengths.extend([256; 16]);
        let plan = plan_batches(&lengths, 32, 1);
        assert_eq!(plan, vec![16, 16]);
    }

    #[test]
    fn single_text_is_one_batch_even_with_many_workers() {
        assert_eq!(plan_batches(&[12], 32, 4), vec![1]);
    }

    #[test]
    fn empty_input_plans_nothing() {
        assert!(plan_batches(&[], 32, 2).is_empty());
    }
}
