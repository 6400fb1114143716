//! qctl's integration tests: one binary (one link on two cores), a module
//! per verb or noun, each driving the real binary against real servers
//! started by `common`.

mod common;

mod bench;
mod bullmq_fixture;
mod bullmq_reads;
mod bullmq_replicate;
mod bullmq_writes;
mod compare_watch;
mod config_files;
mod demo;
mod describe;
mod every_system;
mod find_job;
mod generated;
mod get_clusters;
mod harness;
mod help;
mod input_limits;
mod jobs_state;
mod lists;
mod polish;
mod read_verbs;
mod replicate;
mod requeue_orphaned;
mod rq_fixture;
mod rq_reads;
mod rq_replicate;
mod rq_writes;
mod safety;
mod sidekiq_fixture;
mod sidekiq_reads;
mod sidekiq_replicate;
mod sidekiq_signals;
mod sidekiq_writes;
mod try_local;
mod write_verbs;
