//! Fine-tuning for sentence-level (pooled output) and token-level (sequence output) tasks:
//! data files, features with the core tokenizer, heads with hand-written backward, the training
//! loop, checkpoints and the metrics both `finetune` and `eval` report.

pub mod checkpoint;
pub mod data;
pub mod deployed;
pub mod evaluate;
pub mod features;
pub mod model;
pub mod trainer;

#[cfg(test)]
mod gradcheck;
