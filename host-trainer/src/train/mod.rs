//! MLM + NSP pretraining: model with hand-written backward, optimiser, data pipeline,
//! checkpoints.

pub mod checkpoint;
pub mod corpus;
pub mod dataset;
pub mod gemm;
pub mod instances;
pub mod layers;
pub mod model;
pub mod optim;
pub mod params;
pub mod png;
pub mod rng;
pub mod state;
pub mod trainer;

#[cfg(test)]
mod determinism;
#[cfg(test)]
mod gradcheck;
