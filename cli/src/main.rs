//! `partlog`: Kafka's command-line tools for partlog data directories.
//!
//! Reading commands (`dump`, `verify`, `topics list|describe`, `consume`, `groups`) open the
//! directory read-only ([`partlog::Log::open_read_only`]): they work beside the application that
//! has it open, take no lock and change no file. Writing commands (`topics create|alter|delete`,
//! `produce`, `consume --group`) open it as its owner, so they need it closed elsewhere.

mod dump;
mod read;
mod write;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "partlog", version, about = "Inspect and use partlog data directories, as Kafka's tools do")]
struct Cli {
    /// The data directory.
    #[arg(short, long, global = true, env = "PARTLOG_DIR", default_value = "./data")]
    dir: PathBuf,
    /// Print JSON (one object per line) instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Batches and records of segment files or partition directories (kafka-dump-log).
    Dump(dump::DumpArgs),
    /// Checks every batch and index of the data directory; exits 1 if anything is damaged.
    Verify {
        /// No progress line on a terminal.
        #[arg(long)]
        quiet: bool,
    },
    /// List, describe, create, alter and delete topics (kafka-topics).
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Print records (kafka-console-consumer).
    Consume(read::ConsumeArgs),
    /// Append records read from standard input, one per line (kafka-console-producer).
    Produce(write::ProduceArgs),
    /// Consumer groups: list, and describe with lag (kafka-consumer-groups).
    #[command(subcommand)]
    Groups(GroupsCommand),
}

#[derive(Subcommand)]
enum TopicsCommand {
    /// Topic names.
    List,
    /// Partitions, segments, sizes, offsets and config of one topic, or of all.
    Describe { topic: Option<String> },
    /// Creates a topic.
    Create {
        topic: String,
        #[arg(short, long, default_value_t = 1)]
        partitions: u32,
        /// A topic config setting, `key=value` (Kafka's names); repeatable.
        #[arg(short, long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    /// Changes config settings (kafka-configs --alter) and adds partitions (only more; keys map
    /// to partitions anew).
    #[command(group = clap::ArgGroup::new("change").required(true).multiple(true).args(["partitions", "configs"]))]
    Alter {
        topic: String,
        /// The new partition count.
        #[arg(short, long)]
        partitions: Option<u32>,
        /// A setting to change, `key=value`; repeatable.
        #[arg(short, long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    /// Deletes a topic and its data.
    Delete { topic: String },
}

#[derive(Subcommand)]
enum GroupsCommand {
    /// Group names and states.
    List,
    /// A group's members, committed offsets and lag.
    Describe { group: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out { json: cli.json, damage_only: false };
    let result = match cli.command {
        Command::Dump(args) => dump::run(&args, &out),
        Command::Verify { quiet } => read::verify(&cli.dir, quiet, &out),
        Command::Topics(TopicsCommand::List) => read::topics_list(&cli.dir, &out),
        Command::Topics(TopicsCommand::Describe { topic }) => read::topics_describe(&cli.dir, topic.as_deref(), &out),
        Command::Topics(TopicsCommand::Create { topic, partitions, configs }) => {
            write::topics_create(&cli.dir, &topic, partitions, &configs)
        }
        Command::Topics(TopicsCommand::Alter { topic, partitions, configs }) => {
            write::topics_alter(&cli.dir, &topic, partitions, &configs)
        }
        Command::Topics(TopicsCommand::Delete { topic }) => write::topics_delete(&cli.dir, &topic),
        Command::Consume(args) => read::consume(&cli.dir, &args, &out),
        Command::Produce(args) => write::produce(&cli.dir, &args),
        Command::Groups(GroupsCommand::List) => read::groups_list(&cli.dir, &out),
        Command::Groups(GroupsCommand::Describe { group }) => read::groups_describe(&cli.dir, &group, &out),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Damaged) => ExitCode::from(1),
        Err(e) => {
            eprintln!("partlog: {e}");
            ExitCode::from(2)
        }
    }
}

/// How a command ended: exit code 0, or 1 when it found damage.
pub enum Outcome {
    Clean,
    Damaged,
}

/// Any error a command reports (printed, exit code 2).
pub type Failure = Box<dyn std::error::Error>;

/// Where output goes: text lines, or JSON lines.
pub struct Out {
    pub json: bool,
    /// Print only lines that report damage (`verify`'s index checks).
    pub damage_only: bool,
}

/// Set once standard output is closed (`| head`): commands stop producing and end normally.
pub static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Out {
    /// Whether standard output was closed by its reader.
    pub fn closed(&self) -> bool {
        STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Prints `text`, or `value` as one JSON line.
    pub fn line(&self, text: impl FnOnce() -> String, value: impl FnOnce() -> serde_json::Value) {
        use std::io::Write;
        let line = if self.damage_only || self.json {
            let value = value();
            if value.is_null() || (self.damage_only && value.get("damage").is_none()) {
                return;
            }
            if self.json {
                value.to_string()
            } else {
                text()
            }
        } else {
            text()
        };
        // A closed pipe (`| head`): nothing more is printed; the command ends as it would
        // (closing the log, committing what a group printed, with its exit code).
        if self.closed() || writeln!(std::io::stdout().lock(), "{line}").is_err() {
            STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Bytes for JSON: a string if they are UTF-8, else `{"hex": "…"}`, so that the two never
/// read alike.
pub fn json_bytes(bytes: Option<&[u8]>) -> serde_json::Value {
    match bytes {
        None => serde_json::Value::Null,
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => serde_json::Value::String(s.to_owned()),
            Err(_) => serde_json::json!({"hex": b.iter().map(|x| format!("{x:02x}")).collect::<String>()}),
        },
    }
}

/// Bytes as text: UTF-8 as it is, anything else as hex.
pub fn show(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "null".into(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => s.to_owned(),
            Err(_) => b.iter().map(|x| format!("{x:02x}")).collect(),
        },
    }
}
